"""The forecast's two settings the README documents (Configuration), with their defaults.

Fixed by the code; the code location replaces them from the environment when it loads, never
when a module is imported: ``resources.forecast_horizon_hours`` (FORECAST_HORIZON_HOURS, a
resource field) and ``resources.training_window_days`` (TRAINING_WINDOW_DAYS, which
``definitions.defs`` builds the model asset with).
"""

# Feature days a model sees: the training days, then the last day as holdout.
TRAINING_WINDOW_DAYS = 7
# Hours between a feature row's issue time and its target time.
FORECAST_HORIZON_HOURS = 1
# Days of daily metrics the dma8eu model's window reads (issue dates; the last ones are its holdout).
DMA8EU_WINDOW_DAYS = 60
# Days of a station's history its climatology may use, at forecast time (at training time: the
# window's days before the holdout).
CLIMATOLOGY_HISTORY_DAYS = 3 * 365
# Days of daily metrics a first dma8eu model needs: training issue days, each with four observed
# days ahead, then the holdout's (Dma8euTrainingConfig.holdout_days, 5).
DMA8EU_MIN_DAYS = 25
