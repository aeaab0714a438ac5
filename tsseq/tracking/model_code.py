"""The code MLflow copies into every logged tsseq model and runs to load it ("models from code").

Only :func:`tsseq.tracking.pyfunc.log_forecaster` uses this file, by path: the model
object is built here when the model is loaded, instead of being unpickled.
"""

from mlflow.models import set_model

from tsseq.tracking.pyfunc import ForecasterModel

set_model(ForecasterModel())
