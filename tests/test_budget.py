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


def test_caps_are_off_by_default(monkeypatch):
    monkeypatch.setenv("ATTNLIB_BUDGET", "book")
    monkeypatch.delenv("ATTNLIB_MAX_STEPS", raising=False)
    monkeypatch.delenv("ATTNLIB_MAX_SAMPLES", raising=False)
    assert budget.max_steps() is None and budget.max_samples() is None and not budget.capped()
    assert budget.size(smoke=1, book=2, paper=60000) == 2
    assert not budget.steps_exhausted(10**9)
    assert "DRY RUN" not in budget.describe()


def test_caps_cut_sizes_and_steps(monkeypatch):
    monkeypatch.setenv("ATTNLIB_BUDGET", "paper")
    monkeypatch.setenv("ATTNLIB_MAX_STEPS", "3")
    monkeypatch.setenv("ATTNLIB_MAX_SAMPLES", "64")
    assert budget.capped() and budget.max_steps() == 3 and budget.max_samples() == 64
    assert budget.size(smoke=1, book=2, paper=60000) == 64
    assert budget.size(smoke=1, book=2, paper=10) == 10
    assert budget.choose(smoke=1, book=2, paper=60000) == 60000  # choose is not a data size: never capped
    assert [budget.steps_exhausted(t) for t in range(5)] == [False, False, False, True, True]
    assert "budget: paper" in budget.describe() and "DRY RUN" in budget.describe()


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_bad_caps_are_refused(monkeypatch, value):
    monkeypatch.setenv("ATTNLIB_MAX_STEPS", value)
    with pytest.raises(ValueError, match="ATTNLIB_MAX_STEPS.*positive whole number"):
        budget.max_steps()
    with pytest.raises(ValueError, match="n must be"):
        budget.cap_samples(-1)
    with pytest.raises(ValueError, match="taken must be"):
        budget.steps_exhausted(-1)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"smoke": -1, "book": 2}, "smoke"),
        ({"smoke": 1, "book": 2.5}, "book"),
        ({"smoke": "1", "book": 2}, "smoke"),
        ({"smoke": 1, "book": 2, "paper": True}, "paper"),
        ({"smoke": 1, "book": None}, "book"),
    ],
)
def test_sizes_of_every_budget_are_checked_naming_the_budget(monkeypatch, kwargs, name):
    # a mistake in the size of another budget is caught now, not when that budget runs
    monkeypatch.setenv("ATTNLIB_BUDGET", "book" if name == "smoke" else "smoke")
    with pytest.raises(ValueError, match=f"^{name} must be a whole number"):
        budget.size(**kwargs)
