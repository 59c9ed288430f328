import pytest

import toar.database


@pytest.fixture
def engine(database_url):
    """An engine on each database the product supports, its schema created."""
    engine = toar.database.create_engine(database_url)
    toar.database.ensure_schema(engine)
    yield engine
    engine.dispose()
