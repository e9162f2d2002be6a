"""Schemathesis hooks (SCHEMATHESIS_HOOKS=tests.e2e.hostile_hooks): each generated JSON body gets one
of its fields replaced by a hostile value: lone surrogates, control characters, invisible text,
oversized strings, wrong types. The gateway must answer them all with a 4xx, never a 5xx."""

from typing import Any

import schemathesis
from hypothesis import strategies as st

HOSTILE: st.SearchStrategy[Any] = st.one_of(
    st.text(st.characters(categories=["Cs", "Cc", "Cf", "Co", "Zs"]), min_size=1, max_size=20),
    st.sampled_from(
        ["\ud800", "\udfff code", "\u200b", "\u0000\u0007", "\ufffd", "+86 170 ext 5", "tel:+8613800138000"]
    ),
    st.integers(min_value=10_000, max_value=300_000).map(lambda n: "x" * n),
    st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=3),
    ),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@schemathesis.hook
def flatmap_body(ctx: Any, body: Any) -> st.SearchStrategy[Any]:
    if not isinstance(body, dict) or not body:
        return st.just(body)
    return st.sampled_from(sorted(body)).flatmap(lambda key: HOSTILE.map(lambda value: {**body, key: value}))
