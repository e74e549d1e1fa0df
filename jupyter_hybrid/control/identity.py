"""Who is calling the control plane: what its host's authentication said (the hub's service auth,
or the server extension's own user), never an environment variable of the caller's."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Caller:
    name: str
    admin: bool = False  # hub admins read everyone's objects; they change only their own
    groups: frozenset[str] = field(default_factory=frozenset)

    def reads(self, owner: str | None) -> str:
        """The owner whose object to read: one's own, or (admins only) anyone's."""
        if owner in (None, "", self.name):
            return self.name
        if not self.admin:
            raise PermissionError("you can only see your own jobs and runs")
        return owner

    def lists(self, owner: str | None) -> str | None:
        """The owner to list objects of; None: everyone's (an admin who names nobody)."""
        if self.admin and not owner:
            return None
        return self.reads(owner)

    def writes(self, owner: str | None) -> str:
        """The owner whose objects to change: always the caller (admins only read others')."""
        if owner not in (None, "", self.name):
            raise PermissionError(f"only {owner[:80]!r} can change their jobs; admins may read them")
        return self.name
