"""Tests of attnlib.ram_agent and attnlib.ram_stop: the two-head gradient against attnlib.reinforce, the stop
action's gradient against the exact one, shapes, determinism, bad inputs, and a learning test on Catch."""

from __future__ import annotations

import pytest
import torch

from attnlib.catch import Catch, random_policy_rate
from attnlib.ram_agent import CatchAgent, Episode, FullViewAgent, agent_loss, catch_rate, play
from attnlib.ram_stop import (
    AnytimeOutput,
    AnytimeRAM,
    StopHead,
    anytime_loss,
    sample_stops,
    stop_log_probs,
    stop_loss,
    stop_rewards,
)
from attnlib.reinforce import MovingAverageBaseline, baseline_loss, rewards_to_go, score_function_surrogate


def small_agent(**kw) -> CatchAgent:
    torch.manual_seed(0)
    return CatchAgent(**{"hidden": 16, "glimpse_hidden": 8, "location_hidden": 8, "glimpse_size": 4, **kw})


def test_play_shapes_determinism_and_locations():
    agent, env = small_agent(), Catch(5, height=9, width=9)
    a = play(agent, env, torch.Generator().manual_seed(1), record=True)
    b = play(agent, env, torch.Generator().manual_seed(1))
    assert a.action_log_probs.shape == a.location_log_probs.shape == a.rewards.shape == (5, 8)
    assert a.locations.shape == (5, 9, 2) and a.frames.shape == (5, 9, 1, 9, 9) and b.frames is None
    assert torch.equal(a.locations[:, 0], torch.zeros(5, 2)) and a.locations.abs().max() <= 1
    assert torch.equal(a.actions, b.actions) and torch.equal(a.locations, b.locations)
    assert (a.rewards[:, :-1] == 0).all()  # Catch pays only when the ball lands
    greedy = play(agent, env, torch.Generator().manual_seed(1), sample=False)
    assert torch.equal(greedy.locations[:, 1:], greedy.locations[:, 1:].clamp(-1, 1))
    full = play(FullViewAgent(9, 9, hidden=8), env, torch.Generator().manual_seed(1))
    assert (full.location_log_probs == 0).all()


def test_two_head_gradient_is_the_sum_of_each_heads_reinforce():
    # Eq. (agent-two-head): one surrogate over the stacked heads = the heads' surrogates added
    agent, env = small_agent(), Catch(6, height=7, width=7)
    ep = play(agent, env, torch.Generator().manual_seed(0))
    ep = ep._replace(rewards=torch.rand(ep.rewards.shape, generator=torch.Generator().manual_seed(1)))
    loss, _ = agent_loss(ep, baseline_weight=0.0)
    ours = torch.autograd.grad(loss, list(agent.parameters()), allow_unused=True, retain_graph=True)
    returns = rewards_to_go(ep.rewards)
    each = score_function_surrogate(ep.action_log_probs, returns, ep.baselines) + score_function_surrogate(
        ep.location_log_probs, returns, ep.baselines
    )
    # and by hand: -(1/B) sum_t (R_t - b_t)(log pi_a + log pi_l)
    by_hand = -(((returns - ep.baselines.detach()) * (ep.action_log_probs + ep.location_log_probs)).sum(1)).mean()
    for other in (each, by_hand):
        theirs = torch.autograd.grad(other, list(agent.parameters()), allow_unused=True, retain_graph=True)
        for g1, g2 in zip(ours, theirs):
            if g1 is not None or g2 is not None:
                zero = torch.zeros_like(g1 if g1 is not None else g2)
                torch.testing.assert_close(zero if g1 is None else g1, zero if g2 is None else g2)
    # the baseline gets its gradient from the regression only, and reads a detached state
    full, _ = agent_loss(ep, baseline_weight=1.0)
    g = torch.autograd.grad(full - loss, agent.baseline.linear.weight, retain_graph=True)[0]
    ref = torch.autograd.grad(baseline_loss(ep.baselines, returns), agent.baseline.linear.weight)[0]
    torch.testing.assert_close(g, ref)


def test_normalized_advantage_is_the_standardised_r_minus_b():
    # agent_loss(normalize=True): -(1/B) sum_t A'_t (log pi_a + log pi_l), A' = (A - mean A) / (std A + 1e-6)
    agent, env = small_agent(), Catch(6, height=7, width=7)
    ep = play(agent, env, torch.Generator().manual_seed(0))
    ep = ep._replace(rewards=torch.rand(ep.rewards.shape, generator=torch.Generator().manual_seed(1)))
    loss, _ = agent_loss(ep, baseline_weight=0.0, normalize=True)
    adv = (rewards_to_go(ep.rewards) - ep.baselines).detach()
    adv = (adv - adv.mean()) / (adv.std() + 1e-6)
    by_hand = -((adv * (ep.action_log_probs + ep.location_log_probs)).sum(1)).mean()
    params = [p for p in agent.parameters() if p.requires_grad]
    ours = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)
    theirs = torch.autograd.grad(by_hand, params, allow_unused=True, retain_graph=True)
    for g1, g2 in zip(ours, theirs):
        if g1 is not None or g2 is not None:
            zero = torch.zeros_like(g1 if g1 is not None else g2)
            torch.testing.assert_close(zero if g1 is None else g1, zero if g2 is None else g2)
    # the baseline's regression target is unchanged by the normalisation
    full, _ = agent_loss(ep, baseline_weight=1.0, normalize=True)
    torch.testing.assert_close(full - loss, baseline_loss(ep.baselines, rewards_to_go(ep.rewards)))
    with pytest.raises(ValueError, match="normalize"):
        agent_loss(ep, normalize=1)


def test_rewards_to_go_weight_each_step():
    # the action at step t is weighted by the rewards from t on: with reward only at the end, all steps by R
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.5, 0.0, 1.0]])
    assert rewards_to_go(rewards).tolist() == [[1.0, 1.0, 1.0], [1.5, 1.0, 1.0]]


def test_stop_log_probs_rewards_and_sampling():
    logits = torch.tensor([[0.0, 2.0, -1.0], [-3.0, -3.0, 5.0]])
    tau = torch.tensor([2, 3])
    lp = stop_log_probs(logits, tau)
    sig = torch.sigmoid
    expected = torch.tensor(
        [[torch.log(1 - sig(torch.tensor(0.0))), torch.log(sig(torch.tensor(2.0))), 0.0],
         [torch.log(1 - sig(torch.tensor(-3.0))), torch.log(1 - sig(torch.tensor(-3.0))), 0.0]]
    )  # fmt: skip
    torch.testing.assert_close(lp, expected)
    correct = torch.tensor([[0.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    r = stop_rewards(correct, tau, 0.1)
    torch.testing.assert_close(r, torch.tensor([[-0.1, 1.0, 0.0], [-0.1, -0.1, 0.0]]))
    assert sample_stops(logits, sample=False).tolist() == [2, 3]
    assert sample_stops(torch.full((4, 3), -50.0), torch.Generator().manual_seed(0)).tolist() == [3] * 4
    assert sample_stops(torch.full((4, 3), 50.0), torch.Generator().manual_seed(0)).tolist() == [1] * 4


def test_stop_penalty_gradient_equals_the_exact_gradient():
    # Eq. (agent-stop-gradient): summing the surrogate over every stopping time, weighted by its probability,
    # gives exactly the gradient of E[c_tau - lambda (tau - 1)]
    torch.manual_seed(0)
    steps, penalty = 4, 0.15
    logits = torch.randn(1, steps, requires_grad=True)
    correct = torch.tensor([[0.0, 1.0, 0.0, 1.0]])
    p = torch.sigmoid(logits[0])
    probs = []
    for tau in range(1, steps + 1):
        prob = torch.prod(1 - p[: tau - 1]) * (p[tau - 1] if tau < steps else 1.0)
        probs.append(prob)
    expected_return = sum(pr * (correct[0, t - 1] - penalty * (t - 1)) for t, pr in zip(range(1, steps + 1), probs))
    exact = torch.autograd.grad(expected_return, logits)[0]
    estimate = torch.zeros_like(logits)
    for tau, pr in zip(range(1, steps + 1), probs):
        t = torch.tensor([tau])
        returns = rewards_to_go(stop_rewards(correct, t, penalty))
        surrogate = score_function_surrogate(stop_log_probs(logits, t), returns)
        estimate -= pr.detach() * torch.autograd.grad(surrogate, logits)[0]
    torch.testing.assert_close(estimate, exact)
    # and the penalty's own part of the gradient: d/dlambda of the exact gradient is that of -(tau - 1)
    assert exact.abs().sum() > 0


def test_stop_loss_monte_carlo_and_baseline():
    torch.manual_seed(0)
    logits = torch.zeros(4000, 3, requires_grad=True)
    correct = torch.tensor([[1.0, 1.0, 1.0]]).expand(4000, 3)
    loss, logs = stop_loss(logits, correct, 0.2, MovingAverageBaseline(steps=3), torch.Generator().manual_seed(0))
    (g,) = torch.autograd.grad(loss, logits)
    # always right: going on only costs, so the gradient pushes every stop probability up (loss gradient < 0)
    assert g[:, :2].sum(0).lt(0).all()
    assert 1 <= logs["glimpses"] <= 3 and logs["accuracy"] == 1.0
    with pytest.raises(ValueError, match="baseline"):
        stop_loss(logits, correct, 0.2, baseline="x")
    with pytest.raises(ValueError, match="correct"):
        stop_loss(logits, correct[:, :2], 0.2)
    with pytest.raises(ValueError, match="penalty"):
        stop_rewards(correct, torch.ones(4000, dtype=torch.long), -1.0)
    with pytest.raises(ValueError, match="tau"):
        stop_log_probs(logits, torch.zeros(4000, dtype=torch.long))


def test_anytime_ram_shapes_and_loss():
    torch.manual_seed(0)
    model = AnytimeRAM(glimpse_size=4, n_scales=2, n_glimpses=3, glimpse_hidden=8, location_hidden=8, hidden=16)
    images, labels = torch.rand(5, 1, 20, 20), torch.randint(0, 10, (5,))
    out = model(images, sample=True, generator=torch.Generator().manual_seed(0))
    assert isinstance(out, AnytimeOutput)
    assert out.logits.shape == (5, 3, 10) and out.states.shape == (5, 3, 16)
    assert out.log_probs.shape == out.baselines.shape == (5, 3) and (out.log_probs[:, 0] == 0).all()
    loss, logs = anytime_loss(out, labels)
    loss.backward()
    assert model.policy.weight.grad.abs().sum() > 0 and model.classifier.weight.grad.abs().sum() > 0
    head = StopHead(16, 10, 3)
    assert head(out.states, out.logits).shape == (5, 3)
    with pytest.raises(ValueError, match="labels"):
        anytime_loss(out, labels[:3])
    with pytest.raises(ValueError, match="images"):
        model(torch.rand(5, 2, 20, 20))


def test_bad_agent_inputs():
    with pytest.raises(ValueError, match="agent"):
        play("agent", Catch(2))
    with pytest.raises(ValueError, match="env"):
        play(small_agent(), "env")
    with pytest.raises(ValueError, match="episode"):
        agent_loss("episode")
    with pytest.raises(ValueError, match="entropy_weight"):
        agent_loss(play(small_agent(), Catch(2, 5, 5)), entropy_weight=-1.0)
    with pytest.raises(ValueError, match="block_sum"):
        CatchAgent(block_sum=1)
    with pytest.raises(ValueError, match="hidden"):
        FullViewAgent(hidden=0)
    assert Episode._fields[0] == "action_log_probs"


def test_catch_agent_learns_well_above_random():
    # a small screen, a straight fall: the RAM agent must find the ball with its retina and move under it
    torch.set_num_threads(1)
    torch.manual_seed(0)
    env = Catch(64, height=9, width=9, paddle_width=3, max_dx=0)
    agent = CatchAgent(glimpse_size=3, n_scales=2, hidden=32, glimpse_hidden=32, location_hidden=16)
    # standardised advantages and a smaller step, as the chapter trains: with lr 1e-2 and raw advantages 150
    # updates learned in only 1 to 2 seeds of 5 on this machine (the policy collapsed to one action); with these
    # settings all of seeds 0-4 reached 0.66-1.0 against the random policy's 0.36
    opt = torch.optim.Adam(agent.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(300):
        loss, _ = agent_loss(play(agent, env, gen), entropy_weight=0.01, normalize=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
    test = Catch(250, height=9, width=9, paddle_width=3, max_dx=0)
    rate = catch_rate(agent, test, 500, torch.Generator().manual_seed(1))
    random = random_policy_rate(test, 500, torch.Generator().manual_seed(1))
    assert rate > random + 0.15, (rate, random)


# ----------------------------------------------------------------------------- bad input (issue 24 follow-up)

_NAN = float("nan")
_CORRECT = torch.tensor([[0.0, 1.0, 1.0], [1.0, 1.0, 0.0]])


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: CatchAgent(n_actions=0), "n_actions"),
        (lambda: CatchAgent(n_actions="3"), "n_actions"),
        (lambda: catch_rate("agent", Catch(2, height=5, width=5), 2, torch.Generator()), "agent"),
        (lambda: catch_rate(small_agent(), Catch(2, height=5, width=5), 2, None), "generator"),
        (lambda: sample_stops(torch.tensor([[0.0, _NAN, 0.0]])), "stop_logits"),
        (lambda: sample_stops(torch.zeros(2, 3), generator=3), "generator"),
        (lambda: sample_stops(torch.zeros(2, 3), sample="no"), "sample"),
        (lambda: stop_log_probs(torch.full((2, 3), float("inf")), torch.tensor([1, 2])), "stop_logits"),
        (lambda: stop_rewards(_CORRECT * _NAN, torch.tensor([1, 2]), 0.1), "correct"),
        (lambda: stop_loss(torch.zeros(2, 3), _CORRECT * _NAN, 0.1), "correct"),
        (lambda: stop_loss(torch.full((2, 3), _NAN), _CORRECT, 0.1), "stop_logits"),
        (lambda: stop_loss(torch.zeros(2, 3), _CORRECT, 0.1, generator="seed"), "generator"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
