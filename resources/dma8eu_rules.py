"""How a dma8eu model earns the champion alias: the skill rules, one resource shown in the UI."""

from dagster import ConfigurableResource
from pydantic import Field

from forecasting.dma8eu import SkillRules


class Dma8euPromotionRules(ConfigurableResource):
    """Skill a dma8eu model must show, per lead, against persistence and climatology."""

    min_skill_persistence: float = Field(default=0.0, description="skill against persistence needed at every lead")
    min_skill_climatology: float = Field(default=0.0, description="skill against climatology needed at its leads")
    climatology_leads: list[int] = Field(default=[1, 2], description="leads (days) that must beat climatology too")
    shadow_days: int = Field(
        default=3,
        description="with a champion in place: target days of shadow forecasts scored side by side before the "
        "challenger may replace it (0: decide on the training holdout alone)",
    )
    shadow_window_days: int = Field(default=7, description="the last days of target dates whose shadow skill counts")

    def rules(self) -> SkillRules:
        return SkillRules(
            min_skill_persistence=self.min_skill_persistence,
            min_skill_climatology=self.min_skill_climatology,
            climatology_leads=tuple(self.climatology_leads),
            shadow_days=self.shadow_days,
        )
