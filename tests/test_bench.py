import json

import pytest

from ebtlab.bench import bench, bench_table
from ebtlab.config import build_config
from ebtlab.errors import ConfigError

from tiny import merge


def test_bench_smoke(tiny_values, kjv_modality):
    config, _ = build_config(tiny_values)
    run_dir, report = bench(config, kjv_modality, repetitions=1, warmup=0)
    assert json.loads((run_dir / "bench.json").read_text()) == report
    assert (run_dir / "bench.md").read_text().startswith("fp32 matmul peak on cpu")
    assert report["matmul_peak_flops_per_s"] > 0

    short, long = report["contexts"]
    assert (short["context_length"], long["context_length"]) == (16, 32)
    for context in (short, long):
        ebt, baseline = context["models"]["ebt"], context["models"]["transformer"]
        assert context["flops_ratio"] == ebt["flops_per_step"] / baseline["flops_per_step"] > 1
        assert context["step_time_ratio"] == ebt["step_time_s"] / baseline["step_time_s"]
        assert context["memory_ratio"] == ebt["peak_memory_bytes"] / baseline["peak_memory_bytes"] > 1
        for model in (ebt, baseline):
            assert model["achieved_flops_per_s"] == model["flops_per_step"] / model["step_time_s"]
            assert model["fraction_of_peak"] == model["achieved_flops_per_s"] / report["matmul_peak_flops_per_s"]
        assert context["ebt_profile"]
    assert long["models"]["ebt"]["flops_per_step"] > short["models"]["ebt"]["flops_per_step"]
    assert "| 32 | transformer |" in bench_table(report)


@pytest.mark.parametrize(("repetitions", "warmup"), [(0, 1), (1, -1)])
def test_bench_rejects_bad_repetitions(tiny_values, kjv_modality, repetitions, warmup):
    config, _ = build_config(tiny_values)
    with pytest.raises(ConfigError, match="at least 1 repetition"):
        bench(config, kjv_modality, repetitions=repetitions, warmup=warmup)
