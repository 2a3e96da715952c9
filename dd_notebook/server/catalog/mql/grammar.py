"""The MQL grammar (LALR, for Lark), written from the rules of metacat-and-auth §3.1–§3.2.

Design notes:

* Every word-like token (names, metadata keys, attributes, unquoted strings)
  lexes as ``WORD`` and numbers as ``NUMBER``; the transformer decides what a
  token means from its position and reports misuse with its line and column.
* Postfix clauses (``where``, ``limit``, ``skip``, ``ordered``) and ``-`` are
  left-associative over everything to their left, so ``a - b limit 5`` is
  ``(a - b) limit 5`` and ``a where x limit 5 where y`` filters the limited set.
* Lists of queries (``union(...)``, ``[...]``, ``join(...)``, ``{...}``) are
  separated by ``LIST_SEP``: a comma followed by the start of a file query. A
  plain comma continues a dataset, DID or fid list. This keeps the grammar
  LALR(1) although both lists use commas.
"""

from __future__ import annotations

__all__ = ["GRAMMAR", "TERMINAL_NAMES"]

GRAMMAR = r"""
?start: file_query

?file_query: file_query "-" file_term          -> minus
           | file_query "where" meta_or        -> where
           | file_query "limit" NUMBER         -> limit
           | file_query "skip" NUMBER          -> skip
           | file_query "ordered"              -> ordered
           | file_term

?file_term: "files"                            -> all_files
          | "files" "from" "datasets"? ds_list -> dataset_files
          | ("files" | "file") did ("," did)*  -> file_list
          | ("fids" | "fid") name ("," name)*  -> fid_list
          | "files" "selected" "by"? did       -> named_query
          | "union" "(" query_list ")"         -> union
          | "[" query_list "]"                 -> union
          | "join" "(" query_list ")"          -> join
          | "{" query_list "}"                 -> join
          | "parents" "(" file_query ")"       -> parents
          | "children" "(" file_query ")"      -> children
          | "(" file_query ")"

query_list: file_query (_LIST_SEP file_query)*

ds_list: ds_selector ("," ds_selector)*
ds_selector: ds_spec [subsets] [having]
subsets: "with" "subsets" [RECURSIVELY]
having: "having" meta_or
?ds_spec: name ":" name                        -> ds_named
        | "matching" name ":" PATTERN          -> ds_pattern
        | "matching" "regexp" name ":" STRING  -> ds_regexp

did: name [":" name]
name: WORD | NUMBER

?meta_or: meta_and
        | meta_or "or" meta_and                -> meta_or
?meta_and: meta_not
         | meta_and "and" meta_not             -> meta_and
?meta_not: "!" meta_not                        -> meta_not
         | "(" meta_or ")"
         | predicate
?predicate: operand CMP_OP operand                              -> cmp
          | operand [NOT] "in" operand ":" operand              -> in_range
          | operand [NOT] "in" "(" operand ("," operand)* ")"   -> in_set
          | operand [NOT] "in" operand                          -> contains
          | operand [NOT] "present"                             -> present
          | "exists" STRING                                     -> exists

?operand: WORD                                 -> word
        | NUMBER                               -> number
        | STRING                               -> string
        | WORD "[" index "]"                   -> subscript
        | "len" "(" WORD ")"                   -> length
        | "datetime" "(" (STRING | WORD | NUMBER) ")"     -> datetime
        | "date" "(" (STRING | WORD) ["," STRING] ")"     -> date
?index: ANY | ALL | NUMBER | STRING

NOT: "not"
ANY: "any"
ALL: "all"
RECURSIVELY: "recursively"
CMP_OP: /!~\*|!~|!=|==|<=|>=|~\*|=|<|>|~/
NUMBER.2: /[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![A-Za-z0-9_$@.\/-])/
WORD: /[A-Za-z0-9_$@.\/-]+/
STRING: /"[^"\n]*"|'[^'\n]*'/
PATTERN: /[A-Za-z0-9_.\/*?%^-]+/
_LIST_SEP.3: /,(?=\s*(?:(?:files?|fids?)(?![A-Za-z0-9_$@.\/:-])|(?:union|join|parents|children)\s*\(|[(\[{]))/

%import common.WS
%ignore WS
"""

#: How syntax errors name the pattern terminals.
TERMINAL_NAMES = {
    "WORD": "a name or value",
    "NUMBER": "a number",
    "STRING": "a quoted string",
    "PATTERN": "a dataset name pattern",
    "CMP_OP": "a comparison operator",
    "_LIST_SEP": "','",
    "$END": "end of query",
}
