import pytest

from av1tools.extract.aom import find_tools


@pytest.fixture(scope="session")
def aom_tools():
    """The real libaom tools (make test builds them first; never mocked)."""
    return find_tools()
