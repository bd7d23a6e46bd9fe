"""People labeling together: accounts, the work queue, review, the ontology.

Everything here reads and writes the project store; the web app and the CLI are
thin layers over these functions.
"""

from labelwise.annotate._ontology import (
    add_class,
    class_table,
    merge_classes,
    rename_class,
    retire_class,
)
from labelwise.annotate._queue import (
    LEASE_MINUTES,
    QueueSettings,
    add_gold,
    assign,
    enqueue,
    get_settings,
    holders,
    item_payload,
    next_item,
    queue_counts,
    release,
    sample_payload,
    set_settings,
    skip,
    submit,
    undo,
)
from labelwise.annotate._review import decide, flag_issues, review_queue
from labelwise.annotate._users import (
    ROLES,
    SessionInfo,
    add_user,
    authenticate,
    end_session,
    list_users,
    open_session,
    session_user,
    update_user,
)

__all__ = [
    "LEASE_MINUTES",
    "ROLES",
    "QueueSettings",
    "SessionInfo",
    "add_class",
    "add_gold",
    "add_user",
    "assign",
    "authenticate",
    "class_table",
    "decide",
    "end_session",
    "enqueue",
    "flag_issues",
    "get_settings",
    "holders",
    "item_payload",
    "list_users",
    "merge_classes",
    "next_item",
    "open_session",
    "queue_counts",
    "release",
    "rename_class",
    "retire_class",
    "review_queue",
    "sample_payload",
    "session_user",
    "set_settings",
    "skip",
    "submit",
    "undo",
    "update_user",
]
