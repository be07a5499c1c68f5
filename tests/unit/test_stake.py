from __future__ import annotations

import pytest

from k3s_daas.stake import Role, format_sui, meets_minimum


@pytest.mark.parametrize(
    ("mist", "text"),
    [
        (0, "0"),
        (500_000_000, "0.5"),
        (1_000_000_000, "1"),
        (10_000_000_001, "10.000000001"),
        (3 * 10**18, "3000000000"),
    ],
)
def test_format_sui_is_exact(mist: int, text: str) -> None:
    assert format_sui(mist) == text


def test_minimums_match_the_move_package() -> None:
    assert [(r.label, r.minimum_mist) for r in Role] == [
        ("user", 500_000_000),
        ("node", 1_000_000_000),
        ("admin", 10_000_000_000),
    ]
    assert meets_minimum(Role.USER, 500_000_000) and not meets_minimum(Role.USER, 499_999_999)


def test_role_labels_round_trip_and_reject_unknown() -> None:
    assert all(Role.from_label(r.label) is r for r in Role)
    with pytest.raises(ValueError, match="unknown role 'root'"):
        Role.from_label("root")
