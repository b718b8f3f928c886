"""The service benchmarks' bookkeeping: results merged into results.json without losing other
benchmarks' keys, their own RESULTS.md section rewritten in place, and /proc read right."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from benchmarks.service_process import cpu_seconds, memory_mib, merge_results, write_section


def test_merging_keeps_other_benchmarks_keys_and_drops_the_placeholder_note(
    tmp_path: Path,
) -> None:
    path = tmp_path / "results.json"
    path.write_bytes(orjson.dumps({"traces": {"step": 1}, "scale": None, "scale_note": "later"}))
    merge_results({"scale": [{"workloads": 10}]}, path)
    assert orjson.loads(path.read_bytes()) == {"traces": {"step": 1}, "scale": [{"workloads": 10}]}


def test_a_section_is_rewritten_between_its_markers_and_the_rest_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# Results\n\n<!-- a:start -->\nold\n<!-- a:end -->\n\ntail\n")
    write_section("a", ["new"], path)
    write_section("b", ["other"], path)
    write_section("a", ["newer"], path)
    assert path.read_text() == (
        "# Results\n\n<!-- a:start -->\nnewer\n<!-- a:end -->\n\ntail\n\n"
        "<!-- b:start -->\nother\n<!-- b:end -->\n"
    )


def test_cpu_and_memory_of_a_process_are_read_from_proc() -> None:
    spent_s = cpu_seconds(os.getpid())
    sum(i * i for i in range(200_000))
    memory = memory_mib(os.getpid())
    assert cpu_seconds(os.getpid()) >= spent_s > 0
    assert memory["peak_rss_mib"] >= memory["rss_mib"] > 1
