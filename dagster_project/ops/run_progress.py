"""How far a run is: the assets and checks it has completed, read from Dagster's event log.

The progress bar of `mmr run` polls this while the run goes on in the same process. Each read
takes only the events recorded since the previous one (a cursor): reading the whole log again
on every poll made the poller compete with the run it watched, more the longer the run.
"""

from dagster import DagsterEvent, DagsterEventType, DagsterInstance

DONE = {DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_CHECK_EVALUATION}
PAGE = 1_000


def label(event: DagsterEvent) -> str:
    """What a completion is called on the progress bar: the asset, or the asset and its check."""
    if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
        check = event.asset_check_evaluation_data
        return f"{check.asset_key.to_user_string()} · {check.check_name}"
    return event.asset_key.to_user_string() if event.asset_key else event.event_type_value


class RunProgress:
    """The completed assets and checks of one run, counted as they are recorded."""

    def __init__(self, instance: DagsterInstance, run_id: str) -> None:
        self.instance = instance
        self.run_id = run_id
        self.cursor: str | None = None
        self.count = 0
        self.last = ""

    def read(self) -> int:
        """Take the completions recorded since the last read; returns how many there were."""
        new = 0
        while True:
            page = self.instance.get_records_for_run(self.run_id, cursor=self.cursor, of_type=DONE, limit=PAGE)
            self.cursor = page.cursor
            new += len(page.records)
            if page.records:
                self.last = label(page.records[-1].event_log_entry.dagster_event)
            if not page.has_more:
                break
        self.count += new
        return new
