"""DIET (and every Rasa TensorFlow model) loaded for answering without tracing a training step.

Replaces ``rasa.utils.tensorflow.models.RasaModel.load`` when the model is loaded to answer
(``finetune_mode=False``); loading to go on training keeps Rasa's own method.

Why: to create its variables before reading the trained weights, Rasa 3.6 runs ``model.fit`` for one
example. ``fit`` makes TensorFlow trace the whole training step (DIET's losses, the entity CRF, the
gradients and the Adam update) into a graph: on this machine that took about 50 of the 60 seconds
between ``rasa run`` and the first answer (bench/startup.py). Answering needs only the variables of
the layers, not the optimizer's: one eager forward pass of the same loss on the same example creates
exactly the layers' variables, the trained weights are then read as Rasa reads them (the optimizer's
slots in the checkpoint are left unread: ``expect_partial``), and the prediction graph is traced as
Rasa does. The answers are the same, to the last digit (tests/test_speed.py). Gain: docs/benchmarks.md
("Start-up").
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    import tensorflow as tf
    from rasa.utils.tensorflow import models
    from rasa.utils.tensorflow.constants import LEARNING_RATE, RUN_EAGERLY
    from rasa.utils.tensorflow.data_generator import RasaBatchDataGenerator

    rasa_own = models.RasaModel.__dict__["load"].__func__
    if getattr(rasa_own, "_yibao_original", None) is not None:
        return

    def load(
        cls: Any,
        model_file_name: str,
        model_data_example: Any,
        predict_data_example: Any = None,
        finetune_mode: bool = False,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if finetune_mode:  # training goes on: the optimizer's state is needed, as Rasa builds it
            return rasa_own(
                cls, model_file_name, model_data_example, predict_data_example, finetune_mode, *args, **kwargs
            )
        model = cls(*args, **kwargs)
        config = kwargs.get("config", {})
        # Compiled as Rasa does, so that the object is the same (metrics, optimizer attribute).
        model.compile(
            optimizer=tf.keras.optimizers.Adam(config.get(LEARNING_RATE, 0.001)), run_eagerly=config.get(RUN_EAGERLY)
        )
        example = RasaBatchDataGenerator(model_data_example, batch_size=1)[0]
        model.batch_loss(example)  # eager: creates the layers' variables, traces nothing
        model.load_weights(model_file_name).expect_partial()
        if predict_data_example:
            model.run_inference(predict_data_example)  # traces the prediction graph now, as Rasa does
        return model

    load._yibao_original = rasa_own  # type: ignore[attr-defined]
    models.RasaModel.load = classmethod(load)
