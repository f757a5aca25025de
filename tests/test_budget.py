import pytest

from attnlib import budget


def test_default_is_book(monkeypatch):
    monkeypatch.delenv("ATTNLIB_BUDGET", raising=False)
    assert budget.current() == "book"
    assert budget.choose(smoke=1, book=2, paper=3) == 2


@pytest.mark.parametrize("name, expected", [("smoke", 1), ("book", 2), ("paper", 3), (" Paper ", 3)])
def test_choose_follows_env(monkeypatch, name, expected):
    monkeypatch.setenv("ATTNLIB_BUDGET", name)
    assert budget.choose(smoke=1, book=2, paper=3) == expected


def test_paper_defaults_to_book(monkeypatch):
    monkeypatch.setenv("ATTNLIB_BUDGET", "paper")
    assert budget.choose(smoke=1, book=2) == 2


def test_unknown_budget_is_refused(monkeypatch):
    monkeypatch.setenv("ATTNLIB_BUDGET", "huge")
    with pytest.raises(ValueError, match="ATTNLIB_BUDGET='huge'.*smoke, book, paper"):
        budget.current()


def test_announce_names_budget_device_and_data(monkeypatch, capsys):
    monkeypatch.setenv("ATTNLIB_BUDGET", "smoke")
    monkeypatch.setenv("ATTNLIB_DEVICE", "cpu")
    device = budget.announce(data="bundled MNIST")
    out = capsys.readouterr().out
    assert "budget: smoke" in out and "device: cpu" in out and "data: bundled MNIST" in out
    assert str(device) == "cpu"
