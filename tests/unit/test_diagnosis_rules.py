"""Diagnosis rules on recorded numbers (textclass.diagnosis.rules), no run needed."""

from textclass.diagnosis.rules import check_data_wait


def test_diagnosis_flags_a_starved_data_path():
    assert check_data_wait([{"data_wait_fraction": 0.01}]) == []
    assert check_data_wait([{"step": 1}]) == []  # runs from before the measure
    (finding,) = check_data_wait([{"data_wait_fraction": 0.45}])
    assert finding.severity == "warn" and "45%" in finding.evidence
    assert "num_workers" in finding.recommendation
