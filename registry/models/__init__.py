"""All models, imported here so metadata is complete for Alembic and create_all."""

from registry.models.account import ROLES, User
from registry.models.authority import MINISTRY_CODE, Authority
from registry.models.campaign import Campaign
from registry.models.enterprise import (
    ENTERPRISE_KINDS,
    LICENCE_STATUSES,
    Enterprise,
    FormerName,
    Licence,
)
from registry.models.history import Event, LogEntry, LogNode, SequenceCounter
from registry.models.import_batch import IMPORT_SOURCES, ImportBatch
from registry.models.listing import (
    LISTING_STATES,
    LISTS,
    REMOVAL_RULES,
    TERM_KINDS,
    Ground,
    Listing,
    Petition,
)
from registry.models.mail import OutboxMail
from registry.models.notice import (
    NOTICE_KINDS,
    NOTICE_STATES,
    Notice,
    notice_listing,
    notice_sanction,
)
from registry.models.sanction import MEASURES, Evidence, Sanction
from registry.models.submission import (
    EFFECTS,
    OUTCOMES,
    SUBMISSION_KINDS,
    SUBMISSION_STATES,
    RepairRule,
    Submission,
    SubmissionFile,
    SubmissionNote,
    SubmissionPrivate,
)
from registry.models.upload import StagedUpload
from registry.models.watchlist import WatchDelivery, WatchedFirm, WatchSubscriber

__all__ = [
    "EFFECTS",
    "OUTCOMES",
    "SUBMISSION_KINDS",
    "SUBMISSION_STATES",
    "OutboxMail",
    "RepairRule",
    "Submission",
    "SubmissionFile",
    "SubmissionNote",
    "SubmissionPrivate",
    "ENTERPRISE_KINDS",
    "IMPORT_SOURCES",
    "LICENCE_STATUSES",
    "LISTING_STATES",
    "LISTS",
    "MEASURES",
    "MINISTRY_CODE",
    "NOTICE_KINDS",
    "NOTICE_STATES",
    "REMOVAL_RULES",
    "ROLES",
    "TERM_KINDS",
    "Authority",
    "Campaign",
    "Enterprise",
    "Event",
    "Evidence",
    "FormerName",
    "Ground",
    "ImportBatch",
    "Licence",
    "Listing",
    "LogEntry",
    "LogNode",
    "Notice",
    "Petition",
    "Sanction",
    "SequenceCounter",
    "StagedUpload",
    "User",
    "notice_listing",
    "notice_sanction",
    "WatchDelivery",
    "WatchSubscriber",
    "WatchedFirm",
]
