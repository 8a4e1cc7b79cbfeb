"""What the demo tasks read from the worker's environment (config.TaskSettings)."""

import pytest
from pydantic import ValidationError

from demo_service.config import TaskSettings


class TestTaskSettings:
    def test_the_failure_hook_is_refused_in_production(self) -> None:
        with pytest.raises(ValidationError, match="DEMO_FAIL_ATTEMPTS"):
            TaskSettings(PGSTACK_ENV="production", fail_attempts=1)
        assert TaskSettings(PGSTACK_ENV="test", fail_attempts=1).fail_attempts == 1

    def test_enabling_takes_about_two_seconds_by_default(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Five steps of DEMO_STEP_DELAY: long enough for people to watch "enabling"."""
        monkeypatch.delenv("DEMO_STEP_DELAY")
        assert TaskSettings(PGSTACK_ENV="production").step_delay * 5 == pytest.approx(2)
