from .optimizers import *  # noqa: F401,F403
from .schedulers import *  # noqa: F401,F403
from .sdsh_hooks import SDSHScheduleHook  # noqa: F401
from .sdsh_optim_wrapper import SDSHAmpOptimWrapper, SDSHOptimWrapper, SDSHOptimWrapperConstructor  # noqa: F401
