"""MQL, the MetaCat Query Language: parser (own Lark grammar) and SQL compiler."""

from .parser import parse

__all__ = ["parse"]
