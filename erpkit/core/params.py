"""Request parameter types shared by every module's routes (bounded, documented)."""

from __future__ import annotations

from typing import Annotated

from litestar.params import PathParameter, QueryParameter

MAX_ID = 2**31 - 1

#: a database id in the path
PathId = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
#: a short code in the path (role code, option list code...)
PathCode = Annotated[str, PathParameter(min_length=1, max_length=100)]
#: free-text search
Search = Annotated[str | None, QueryParameter(max_length=100)]
Page = Annotated[int, QueryParameter(ge=1, le=1_000_000)]
PerPage = Annotated[int, QueryParameter(ge=1, le=200)]
#: where to go back to after a form (checked by the handler)
NextUrl = Annotated[str | None, QueryParameter(max_length=2000)]
