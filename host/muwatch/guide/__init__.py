"""The guided home session: protocol (steps as data) and the runner that drives the recorder.

    from muwatch.guide import guided_protocol, GuidedSession
    proto = guided_protocol(stimulator=True)
    result = await GuidedSession(recorder, proto, fs=4000, stimulator_program=mA).run()

`to_sim_schedule(proto)` turns the protocol into a muwatch.sim schedule: a simulated participant
who does what is asked (the demo and the tests play it through the simulated sensor).
"""

from muwatch.guide.protocol import (
    Protocol,
    Step,
    block_intensities,
    guided_protocol,
    to_sim_schedule,
)
from muwatch.guide.session import (
    FeedbackMeter,
    GuidedSession,
    SessionResult,
    StepState,
    StimulusLabeller,
    emg_level_pct,
)

__all__ = [
    "FeedbackMeter",
    "GuidedSession",
    "Protocol",
    "SessionResult",
    "Step",
    "StepState",
    "StimulusLabeller",
    "block_intensities",
    "emg_level_pct",
    "guided_protocol",
    "to_sim_schedule",
]
