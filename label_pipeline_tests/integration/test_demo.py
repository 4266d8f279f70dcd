"""The README's demo command, end to end (shorter sample so the suite stays fast)."""
from __future__ import annotations

from dagster import AssetKey, DagsterInstance

from label_pipeline.demo.cli import main


def test_demo_materializes_every_asset_of_every_partition(tmp_path, capsys) -> None:
    home = tmp_path / "home"
    assert main(["demo", "--home", str(home), "--days", "1"]) == 0
    out = capsys.readouterr().out
    assert "materialized 4/4 partitions" in out
    for symbol in ("BTC%2FUSDT", "ETH%2FUSDT", "SOL%2FUSDT"):
        for asset in ("direction_labels", "entry_labels", "position_state_samples", "continue_labels", "exit_labels", "risk_labels"):
            assert (home / "store" / asset / "sample_run" / f"{symbol}.parquet").is_file()
    # the materializations are in the persistent instance the UI will open
    with DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        assert instance.get_latest_materialization_event(AssetKey("risk_labels")) is not None
        assert set(instance.get_dynamic_partitions("symbol")) == {"BTC/USDT", "ETH/USDT", "SOL/USDT"}
