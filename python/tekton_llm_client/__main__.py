"""`python -m tekton_llm_client` is the `tekton-llm` command."""

import sys

from .cli import main

sys.exit(main())
