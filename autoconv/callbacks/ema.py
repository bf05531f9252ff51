"""SwapEMAWeights: evaluate (and checkpoint) with the optimizer's moving averages of the
weights, as Keras 3's (keras/src/callbacks/swap_ema_weights.py)."""

from __future__ import annotations

from autoconv.callbacks.base import Callback


class SwapEMAWeights(Callback):
    """With an optimizer made with ``use_ema=True``: the model's weights take their moving
    averages ("Polyak averaging") for each evaluation (``validation_data`` in ``fit``,
    ``evaluate``) and prediction, and get their own values back after it, swapped in place.
    With ``swap_on_epoch=True`` they hold the averages from each epoch's end to the next
    epoch's start too, so that a ``ModelCheckpoint`` placed after this callback saves them.

    (Keras 3.15's ``on_predict_end`` leaves the averages in the model; this one swaps back,
    as its ``on_test_end`` does.)
    """

    def __init__(self, swap_on_epoch: bool = False) -> None:
        super().__init__()
        self.swap_on_epoch = bool(swap_on_epoch)
        self._averages_in_model = False

    def _swap(self, into_model: bool) -> None:
        if self._averages_in_model != into_model:
            self.model.optimizer.swap_moving_averages()
            self._averages_in_model = into_model

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.swap_on_epoch:
            self._swap(into_model=False)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.swap_on_epoch:
            self._swap(into_model=True)
            if epoch == self.params["epochs"] - 1:
                # fit ends by giving the weights their averages: the averages are now the
                # weights (Keras's _finalize_ema_values)
                self.model.optimizer.swap_moving_averages(reset=True)

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._swap(into_model=True)

    def on_test_end(self, logs: dict | None = None) -> None:
        self._swap(into_model=False)

    def on_predict_begin(self, logs: dict | None = None) -> None:
        self._swap(into_model=True)

    def on_predict_end(self, logs: dict | None = None) -> None:
        self._swap(into_model=False)
