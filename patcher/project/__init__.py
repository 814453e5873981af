"""The user's project: discovery, our record, the edits we make to it, and how they are made.

Everything read from a project is untrusted (docs/design.md, "Security model"): it is parsed
and validated before use, and every write goes through `fence.Fence` inside a journaled
`transaction.Transaction`. cargo itself never runs in the project: resolution happens in a
scratch copy (`shadow`), and the Cargo.lock it produces is written like any other file.
"""
