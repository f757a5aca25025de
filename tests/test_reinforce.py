"""The score-function surrogate against hand-computed REINFORCE gradients, and the baselines."""

import itertools

import pytest
import torch

from attnlib.reinforce import (
    LearnedBaseline,
    MovingAverageBaseline,
    baseline_loss,
    rewards_to_go,
    score_function_surrogate,
)


def test_gradient_is_minus_the_reinforce_estimate(generator):
    logits = torch.randn(6, 4, generator=generator, requires_grad=True)
    actions = torch.randint(0, 4, (6,), generator=generator)
    reward = torch.rand(6, generator=generator)
    log_prob = logits.log_softmax(-1)[torch.arange(6), actions]
    score_function_surrogate(log_prob, reward, baseline=0.3).backward()
    # d log softmax(l)_a / d l = onehot(a) - softmax(l)
    expected = -((reward - 0.3)[:, None] * (torch.nn.functional.one_hot(actions, 4) - logits.softmax(-1))) / 6
    torch.testing.assert_close(logits.grad, expected.detach())


def test_reward_and_baseline_receive_no_gradient():
    log_prob = torch.randn(5, requires_grad=True)
    reward = torch.rand(5, requires_grad=True)
    baseline = torch.rand(5, requires_grad=True)
    score_function_surrogate(log_prob, reward, baseline).backward()
    assert reward.grad is None and baseline.grad is None
    torch.testing.assert_close(log_prob.grad, -(reward - baseline).detach() / 5)


def test_trajectories_sum_over_time_and_average_over_batch():
    """log_prob (B, T), one reward per trajectory (B,), a baseline per step (B, T)."""
    log_prob = torch.randn(3, 4, requires_grad=True)
    reward = torch.tensor([1.0, 0.0, 1.0])
    baseline = torch.full((3, 4), 0.25)
    loss = score_function_surrogate(log_prob, reward, baseline)
    manual = -((reward[:, None] - baseline) * log_prob).sum(1).mean()
    torch.testing.assert_close(loss, manual)


def test_baseline_does_not_change_expected_gradient():
    """E[b * grad log pi] = b * grad sum(pi) = 0: summing over all actions weighted by pi."""
    logits = torch.randn(5, requires_grad=True)
    probs = logits.softmax(-1)
    all_actions = logits.log_softmax(-1)  # every action once, weighted by its probability below
    loss = score_function_surrogate(all_actions[:, None], torch.full((5,), 2.0)[:, None], sample_dims=1)
    # weight each action's term by pi(a) * 5 so that mean over the 5 rows is the expectation
    weighted = (probs.detach() * 5 * -2.0 * all_actions).mean()
    (grad,) = torch.autograd.grad(weighted, logits)
    torch.testing.assert_close(grad, torch.zeros(5), atol=1e-6, rtol=0)
    assert torch.isfinite(loss)


@pytest.mark.parametrize(
    "log_prob, reward, match",
    [
        (torch.tensor(1.0), 1.0, "at least one"),
        (torch.tensor([0.0, -float("inf")]), 1.0, "log_prob must be finite"),
        (torch.zeros(3), torch.tensor([1.0, float("nan"), 0.0]), "reward must be finite"),
        (torch.zeros(3), torch.zeros(4), "line up"),
        (torch.zeros(3), torch.zeros(3, 2, 2), "more dims"),
    ],
)
def test_bad_inputs(log_prob, reward, match):
    with pytest.raises(ValueError, match=match):
        score_function_surrogate(log_prob, reward)


def test_sample_dims_range():
    with pytest.raises(ValueError, match="sample_dims"):
        score_function_surrogate(torch.zeros(3, 2), torch.zeros(3), sample_dims=3)


def test_moving_average_returns_previous_value_and_tracks_mean():
    baseline = MovingAverageBaseline(momentum=0.9)
    assert baseline.update(torch.tensor([1.0, 3.0])) == 0.0  # first call: value before the update
    assert baseline().item() == pytest.approx(2.0)  # first batch initialises the average
    previous = baseline.update(torch.tensor([12.0]))
    assert previous.item() == pytest.approx(2.0)
    assert baseline().item() == pytest.approx(0.9 * 2.0 + 0.1 * 12.0)
    assert "value" in baseline.state_dict()
    with pytest.raises(ValueError, match="momentum"):
        MovingAverageBaseline(momentum=1.0)


def test_learned_baseline_detaches_state_and_fits_reward(generator):
    state = torch.randn(64, 8, generator=generator, requires_grad=True)
    reward = (state[:, 0] > 0).float()
    model = LearnedBaseline(8)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    first = None
    for _ in range(200):
        loss = baseline_loss(model(state), reward)
        first = first if first is not None else loss.item()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert state.grad is None  # the state never receives gradient from the baseline
    assert loss.item() < 0.5 * first
    with pytest.raises(ValueError, match="8 features"):
        model(torch.zeros(2, 7))


def test_baseline_loss_per_step():
    b = torch.zeros(2, 3, requires_grad=True)
    loss = baseline_loss(b, torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(loss, torch.tensor(0.5))


def test_per_step_moving_average_skips_masked_entries():
    baseline = MovingAverageBaseline(momentum=0.5, steps=4)
    reward = torch.tensor([[4.0, 2.0, 1.0], [2.0, 0.0, 9.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    torch.testing.assert_close(baseline.update(reward, mask), torch.zeros(3))  # the old values
    torch.testing.assert_close(baseline(), torch.tensor([3.0, 1.0, 1.0, 0.0]))  # first visit: the mean
    old = baseline.update(torch.tensor([[5.0], [7.0]]))
    torch.testing.assert_close(old, torch.tensor([3.0]))
    torch.testing.assert_close(baseline(), torch.tensor([0.5 * 3.0 + 0.5 * 6.0, 1.0, 1.0, 0.0]))
    assert not bool(baseline.initialised[3])  # step 4 was never reached
    with pytest.raises(ValueError, match="T <= steps"):
        baseline.update(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="mask"):
        baseline.update(torch.zeros(2, 3), torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="steps"):
        MovingAverageBaseline(steps=0)


def test_rewards_to_go_against_a_loop(generator):
    rewards = torch.randn(3, 5, generator=generator)
    mask = torch.rand(3, 5, generator=generator) > 0.3
    expected = torch.zeros(3, 5)
    for b in range(3):
        for t in range(5):
            expected[b, t] = sum(rewards[b, u] * mask[b, u] for u in range(t, 5))
    torch.testing.assert_close(rewards_to_go(rewards, mask), expected)
    with pytest.raises(ValueError, match="mask"):
        rewards_to_go(rewards, mask[:, :3])


def test_reward_to_go_estimator_is_unbiased_by_enumeration(generator):
    """Two steps with 3 actions each: E[sum_t R_t grad log pi_t(a_t)] equals grad E[r_1 + r_2] exactly.

    The reward r_1(a_1) of step 1 does not depend on a_2, so dropping it from step 2's weight (the
    reward-to-go, Eq. (sat-reward-to-go)) changes the estimator's variance but not its mean.
    """
    logits = torch.randn(2, 3, generator=generator, requires_grad=True)  # independent policies per step
    r1 = torch.randn(3, generator=generator)  # r_1(a_1)
    r2 = torch.randn(3, 3, generator=generator)  # r_2(a_1, a_2)
    log_pi = logits.log_softmax(-1)
    pi = log_pi.exp()
    exact = torch.autograd.grad(
        sum(pi[0, i] * pi[1, j] * (r1[i] + r2[i, j]) for i in range(3) for j in range(3)), logits, retain_graph=True
    )[0]
    expected_estimate = torch.zeros(2, 3)
    for i, j in itertools.product(range(3), range(3)):
        log_prob = torch.stack([log_pi[0, i], log_pi[1, j]])[None]  # (1 sample, 2 steps)
        to_go = rewards_to_go(torch.stack([r1[i], r2[i, j]])[None])
        surrogate = score_function_surrogate(log_prob, to_go, baseline=torch.tensor([[0.7, -0.3]]))
        grad = torch.autograd.grad(surrogate, logits, retain_graph=True)[0]
        expected_estimate -= (pi[0, i] * pi[1, j]).detach() * grad  # the surrogate's gradient is minus the estimate
    torch.testing.assert_close(expected_estimate, exact, atol=1e-6, rtol=1e-5)


def _bad_reinforce_calls():
    """(call, argument the message must name): the mistakes a new user makes."""
    lp = torch.zeros(4, requires_grad=True)
    per_step = MovingAverageBaseline(steps=3)
    return [
        (lambda: score_function_surrogate(torch.zeros(0), torch.zeros(0)), "log_prob"),  # empty batch: NaN before
        (lambda: score_function_surrogate(torch.zeros(0, 3), 1.0), "log_prob"),
        (lambda: score_function_surrogate(torch.zeros(4, dtype=torch.long), 1.0), "log_prob"),
        (lambda: score_function_surrogate([0.0, 1.0], 1.0), "log_prob"),
        (lambda: score_function_surrogate(lp, "1"), "reward"),
        (lambda: score_function_surrogate(lp, None), "reward"),
        (lambda: score_function_surrogate(lp, float("inf")), "reward"),
        (lambda: score_function_surrogate(lp, 1.0, baseline=float("nan")), "baseline"),
        (lambda: score_function_surrogate(lp, 1.0, baseline="mean"), "baseline"),
        (lambda: score_function_surrogate(lp, torch.zeros(5)), "reward"),
        (lambda: score_function_surrogate(lp, 1.0, sample_dims=0), "sample_dims"),
        (lambda: score_function_surrogate(lp, 1.0, sample_dims=1.0), "sample_dims"),
        (lambda: MovingAverageBaseline(momentum=1.0), "momentum"),
        (lambda: MovingAverageBaseline(momentum=-0.1), "momentum"),
        (lambda: MovingAverageBaseline(momentum=float("nan")), "momentum"),
        (lambda: MovingAverageBaseline(momentum="0.9"), "momentum"),
        (lambda: MovingAverageBaseline(steps=0), "steps"),
        (lambda: MovingAverageBaseline(steps=2.0), "steps"),
        (lambda: MovingAverageBaseline(initial=float("nan")), "initial"),
        (lambda: MovingAverageBaseline().update(torch.zeros(0)), "reward"),
        (lambda: MovingAverageBaseline().update(torch.tensor([1.0, float("nan")])), "reward"),
        (lambda: MovingAverageBaseline().update([1.0, 0.0]), "reward"),
        (lambda: MovingAverageBaseline().update(torch.ones(2), torch.ones(2, dtype=torch.bool)), "mask"),
        (lambda: per_step.update(torch.zeros(2, 4)), "reward"),
        (lambda: per_step.update(torch.zeros(2)), "reward"),
        (lambda: per_step.update(torch.zeros(2, 3), torch.ones(2, 2, dtype=torch.bool)), "mask"),
        (lambda: per_step.update(torch.full((2, 3), float("inf"))), "reward"),
        (lambda: rewards_to_go(torch.tensor(1.0)), "rewards"),
        (lambda: rewards_to_go([1.0, 2.0]), "rewards"),
        (lambda: rewards_to_go(torch.ones(2, 3), torch.ones(3, 2)), "mask"),
        (lambda: rewards_to_go(torch.ones(2, 3), [1, 1, 0]), "mask"),
        (lambda: LearnedBaseline(0), "in_features"),
        (lambda: LearnedBaseline(3.0), "in_features"),
        (lambda: LearnedBaseline(3)(torch.zeros(2, 4)), "state"),
        (lambda: LearnedBaseline(3)(torch.zeros(2, 3, dtype=torch.long)), "state"),
        (lambda: LearnedBaseline(3)("h"), "state"),
        (lambda: baseline_loss(torch.zeros(0), torch.zeros(0)), "baseline"),  # empty batch: NaN before
        (lambda: baseline_loss(torch.zeros(3, 2), torch.zeros(4)), "reward"),
        (lambda: baseline_loss(torch.zeros(3), torch.zeros(3, 2)), "reward"),
        (lambda: baseline_loss(torch.zeros(3), [1.0, 0.0, 1.0]), "reward"),
        (lambda: baseline_loss(torch.zeros(3, dtype=torch.long), torch.zeros(3)), "baseline"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_reinforce_calls())))
def test_bad_inputs_are_refused_naming_the_argument(case):
    """Each mistake is a ValueError naming the caller's argument, never a NaN surrogate or a deep torch error."""
    call, match = _bad_reinforce_calls()[case]
    with pytest.raises(ValueError, match=match):
        call()
