"""RESEND from the ring while streaming continues; overruns reported with their exact range;
live streaming resumes at the newest samples after an outage."""

import numpy as np
from muwatch.protocol import EventCode, Flag, OverrunCause, Status, decode_frame

START = """
from fwharness import *
dev, link = make_device(ROOT, ring_bytes=RING)
link.request(P.OP_START, rid=1)
"""


def _samples(frames, resent=False):
    """index -> samples row, from data frames (live or resent)."""
    out = {}
    for d in frames:
        if bool(d.flags & Flag.RESENT) != resent:
            continue
        for i in range(d.n_samples):
            out[d.first_index + i] = tuple(d.samples[i])
    return out


def test_resend_returns_exactly_the_range_while_live_continues(fw):
    r = fw.run(
        "RING = 620000\n"
        + START
        + """
run(dev, 1_000_000)
link.request(P.OP_RESEND, u32(1000) + u32(500), rid=2)
run(dev, 200_000)
link.request(P.OP_STOP, rid=3)
run(dev, 20_000)
hexframes(link.take())
""",
        heapsize="2000k",
    )
    resp = {x.request_id: x for x in r.responses()}
    assert resp[2].status == Status.OK
    first_q, count_q, oldest, nxt = np.frombuffer(resp[2].body, "<u4")
    assert (first_q, count_q, oldest) == (1000, 500, 0) and nxt > 1500
    live = _samples(r.data())
    resent = _samples(r.data(), resent=True)
    assert sorted(resent) == list(range(1000, 1500))
    assert all(resent[i] == live[i] for i in resent)  # the same bytes again
    stop_next = int(np.frombuffer(resp[3].body, "<u4")[0])
    assert sorted(live) == list(range(stop_next))  # live never skipped a sample
    # resent frames were interleaved with live ones, not sent as a block
    kinds = [bool(d.flags & Flag.RESENT) for d in r.data()]
    first_r = kinds.index(True)
    last_r = len(kinds) - 1 - kinds[::-1].index(True)
    assert not all(kinds[first_r : last_r + 1])
    seqs = [d.seq for d in r.data()]
    assert seqs == list(range(len(seqs)))  # one link counter for live and resent


def test_resend_queues_only_what_the_ring_still_holds(fw):
    r = fw.run(
        "RING = 62000\n"  # 2000 records: 1 s at 2 kHz
        + START
        + """
run(dev, 3_000_000)
link.request(P.OP_STOP, rid=2)
run(dev, 20_000)
link.request(P.OP_RESEND, u32(3000) + u32(2000), rid=3)
link.request(P.OP_RESEND, u32(90000) + u32(10), rid=4)
link.request(P.OP_RESEND, u32(0) + u32(2001), rid=6)
run(dev, 300_000)
hexframes(link.take())
"""
    )
    resp = {x.request_id: x for x in r.responses()}
    nxt = int(np.frombuffer(resp[2].body, "<u4")[0])
    first_q, count_q, oldest, nxt2 = (int(x) for x in np.frombuffer(resp[3].body, "<u4"))
    assert nxt2 == nxt and oldest == nxt - 2000
    assert 3000 < oldest < 5000
    assert first_q == oldest and count_q == 5000 - oldest  # [3000, 5000) ∩ [oldest, next)
    assert resp[4].status == Status.OK
    assert tuple(np.frombuffer(resp[4].body, "<u4")[:2]) == (90000, 0)  # the future: nothing
    assert resp[6].status == Status.BAD_VALUE and b"2000" in resp[6].body  # above capacity
    resent = _samples(r.data(), resent=True)
    assert sorted(resent) == list(range(oldest, 5000))


def test_missed_conversions_are_one_overrun_with_the_exact_range(fw):
    r = fw.run(
        "RING = 620000\n"
        + START
        + """
run(dev, 500_000)
world.stall_until = world.now + 10_000
run(dev, 500_000)
link.request(P.OP_RESEND, u32(900) + u32(300), rid=5)
link.request(P.OP_STOP, rid=2)
run(dev, 100_000)
print("skipped", dev.board.chip.skip_log)
hexframes(link.take())
""",
        heapsize="2000k",
    )
    skipped = eval(r.value("skipped"))
    n = len(skipped)  # a 10 ms stall at 2 kHz: 19 to 21 conversions depending on phase
    assert 19 <= n <= 21 and skipped == list(range(skipped[0], skipped[0] + n))
    ov = [e.event for e in r.events() if e.code == EventCode.OVERRUN]
    assert len(ov) == 1
    assert (ov[0].first_lost_index, ov[0].count, ov[0].cause) == (
        skipped[0],
        n,
        OverrunCause.MISSED_CONVERSIONS,
    )
    live = _samples(r.data())
    stop_next = int(np.frombuffer(r.responses()[-1].body, "<u4")[0])
    assert sorted(live) == [i for i in range(stop_next) if i not in set(skipped)]
    resent = _samples(r.data(), resent=True)
    assert sorted(resent) == [i for i in range(900, 1200) if i not in set(skipped)]
    st = [x for x in r.responses() if x.request_id == 5][0]
    assert tuple(np.frombuffer(st.body, "<u4")[:2]) == (900, 300)


def test_ring_overwriting_unsent_samples_is_reported_exactly(fw):
    r = fw.run(
        "RING = 62000\n"
        + START
        + """
run(dev, 500_000)
link.refuse = True   # the host stops taking frames, the link stays up
run(dev, 1_500_000)
link.refuse = False
run(dev, 300_000)
link.request(P.OP_STOP, rid=2)
run(dev, 50_000)
hexframes(link.take())
"""
    )
    data = [d for d in r.data() if not d.flags & Flag.RESENT]
    gaps = [
        (a.first_index + a.n_samples, b.first_index)
        for a, b in zip(data, data[1:], strict=False)
        if b.first_index != a.first_index + a.n_samples
    ]
    assert len(gaps) == 1
    lo, hi = gaps[0]
    ov = [e.event for e in r.events() if e.code == EventCode.OVERRUN]
    assert [(o.first_lost_index, o.count, o.cause) for o in ov] == [
        (lo, hi - lo, OverrunCause.RING_OVERWRITTEN)
    ]
    st = [x for x in r.responses() if x.request_id == 2][0]
    nxt = int(np.frombuffer(st.body, "<u4")[0])
    assert sum(d.n_samples for d in data) + (hi - lo) == nxt  # all accounted for


def test_after_an_outage_live_resumes_at_the_newest_and_resend_fills_the_gap(fw):
    r = fw.run(
        "RING = 620000\n"
        + START
        + """
run(dev, 500_000)
link.on_disconnect()
run(dev, 1_000_000)
dev.sampler.snapshot()
print("at_reconnect", dev.sampler.s_idx)
link.on_connect()
run(dev, 200_000)
hexframes(link.take())
""",
        heapsize="2000k",
    )
    at = int(r.value("at_reconnect"))
    data = r.data()
    seq0 = [d for d in data if d.seq == 0]
    assert len(seq0) == 2  # seq restarts with the connection
    after = data[data.index(seq0[1]) :]
    assert after[0].first_index >= at and after[0].first_index - at < 20
    before = data[: data.index(seq0[1])]
    gap_lo = before[-1].first_index + before[-1].n_samples
    assert not [e for e in r.events() if e.code == EventCode.OVERRUN]  # nothing lost for good
    # the host now asks for the gap and gets it back whole
    r2 = fw.run(
        "RING = 620000\n"
        + START
        + f"""
run(dev, 500_000)
link.on_disconnect()
run(dev, 1_000_000)
link.on_connect()
run(dev, 200_000)
link.take()
link.request(P.OP_RESEND, u32({gap_lo}) + u32({after[0].first_index - gap_lo}), rid=9)
run(dev, 2_000_000)
hexframes(link.take())
""",
        heapsize="2000k",
    )
    resent = _samples(r2.data(), resent=True)
    assert sorted(resent) == list(range(gap_lo, after[0].first_index))
    assert decode_frame  # the decoder used above is the host's own


def test_resend_at_the_overwrite_edge_delivers_everything_it_promises(fw):
    r = fw.run(
        "RING = 62000\n"  # 2000 records: 1 s at 2 kHz, full and wrapping
        + START
        + """
run(dev, 3_000_000)
dev.sampler.snapshot()
nxt = dev.sampler.s_idx
link.request(P.OP_RESEND, u32(nxt - 2000) + u32(2000), rid=7)
run(dev, 1_500_000, step_us=20_000)  # a slow main loop: the range must still beat the edge
hexframes(link.take())
"""
    )
    resp = [x for x in r.responses() if x.request_id == 7][0]
    first_q, count_q, oldest, nxt = (int(x) for x in np.frombuffer(resp.body, "<u4"))
    assert oldest == first_q == nxt - 2000 + 250  # the oldest 1/8 s would be gone before sent
    assert count_q == nxt - first_q
    resent = _samples(r.data(), resent=True)
    assert sorted(resent) == list(range(first_q, first_q + count_q))  # every promised sample
    assert not [e for e in r.events() if e.code == EventCode.OVERRUN]
