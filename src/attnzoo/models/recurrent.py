"""What several papers' recurrent encoders share: an RNN over padded sequences, packed.

Packing (``pack_padded_sequence``) lets no padding position reach a state: the backward direction
of a bidirectional RNN starts at each sequence's last real position, and the final state is that
of the last real position.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def run_packed(rnn: nn.RNNBase, inputs: Tensor, lengths: Tensor, state: Any = None) -> tuple[Tensor, Any]:
    """``rnn`` (batch first) over ``inputs`` ``(B, T, E)`` of ``lengths`` ``(B,)`` (each >= 1).

    Args:
        state: the initial state (``h_0``, or ``(h_0, c_0)`` for an LSTM); None: zeros.

    Returns:
        outputs ``(B, T, directions * H)``, zero at padding, and the final state as the RNN
        returns it (``h_n``, or ``(h_n, c_n)``), each ``(layers * directions, B, H)``.
    """
    packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=False)
    outputs, final = rnn(packed, state)
    return pad_packed_sequence(outputs, batch_first=True, total_length=inputs.size(1))[0], final
