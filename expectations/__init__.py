"""The data-quality gate: Great Expectations suites over the raw tables and marts.

Great Expectations must never reach the network from this product, so usage
statistics are switched off before the library is first imported.
"""

import os

os.environ["GX_ANALYTICS_ENABLED"] = "false"
