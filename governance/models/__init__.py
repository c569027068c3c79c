from governance.models.audit import AuditEntry
from governance.models.data_protection import (
    DeidentificationJob,
    ErasureRequest,
    ErasureRequestItem,
    RetentionNotice,
)
from governance.models.evidence import EvidenceItem, EvidenceRevision, EvidenceSource, Freshness
from governance.models.inventory import (
    DataCategories,
    Dataset,
    DatasetUserObjectPermission,
    DatasetVersion,
    MLModel,
    MLModelUserObjectPermission,
    ModelVersion,
)
from governance.models.org import BusinessUnit, Invitation, Role, RoleGrant, RolePolicy
from governance.models.packs import EvidencePack, PackScopeKind, PackStatus

__all__ = [
    "AuditEntry",
    "BusinessUnit",
    "DataCategories",
    "Dataset",
    "DatasetUserObjectPermission",
    "DatasetVersion",
    "DeidentificationJob",
    "ErasureRequest",
    "ErasureRequestItem",
    "EvidenceItem",
    "EvidencePack",
    "EvidenceRevision",
    "EvidenceSource",
    "Freshness",
    "Invitation",
    "MLModel",
    "MLModelUserObjectPermission",
    "ModelVersion",
    "PackScopeKind",
    "PackStatus",
    "RetentionNotice",
    "Role",
    "RoleGrant",
    "RolePolicy",
]
