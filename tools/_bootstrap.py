"""Let tools/ scripts run from a source checkout without installing the package."""

import logging
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
# spconv 2.3 imports deprecated torch.cuda.amp decorators: 16 lines of FutureWarning before any output
warnings.filterwarnings("ignore", category=FutureWarning, module=r"spconv\.")
