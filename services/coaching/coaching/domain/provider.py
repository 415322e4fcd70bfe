"""A provider (Träger) of coachings: the districts it serves under contract terms, its
coaches, and the districts where it is contracted to run the outreach itself (its outreach
workers then work those districts' planning boards; the visits service learns the contract
from ``ProviderOutreachContracted``)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from coaching.domain.errors import InvalidDistrictsError, ProviderDoesNotServeDistrictError
from coaching.domain.values import ContractTerms
from shared.errors import InvalidInputError
from shared.eventsourcing.meta import AuditedEvent


class Provider(Aggregate):
    """A provider of coachings, its districts and its contract terms.

    Each event records who caused it (``meta``, from the command's context). Its ``TOPIC``
    is the name it is stored under, so it stays when the class moves.
    """

    class Event(AuditedEvent):
        pass

    class Registered(Event, Aggregate.Created):
        TOPIC = "coaching.domain:Provider.Registered"
        name: str
        districts: list[str]
        terms: dict[str, int]

    class CoachAdded(Event):
        TOPIC = "coaching.domain:Provider.CoachAdded"
        coach: str

    class OutreachContracted(Event):
        TOPIC = "coaching.domain:Provider.OutreachContracted"
        district: str
        provider_name: str

    class OutreachContractEnded(Event):
        TOPIC = "coaching.domain:Provider.OutreachContractEnded"
        district: str

    @classmethod
    def register(
        cls, *, provider_id: UUID, name: str, districts: Sequence[str], terms: ContractTerms
    ) -> Provider:
        cleaned = sorted({d.strip() for d in districts})
        if not cleaned or any(not d for d in cleaned):
            raise InvalidDistrictsError(
                "a provider serves at least one district", field="districts"
            )
        if not name.strip():
            raise InvalidInputError("a provider has a name", field="name")
        terms.check_is_valid()
        return cls(id=provider_id, name=name.strip(), districts=cleaned, terms=terms.as_event())

    @event(Registered)
    def __init__(self, *, id: UUID, name: str, districts: list[str], terms: dict[str, int]) -> None:
        self.name = name
        self.districts = list(districts)
        self.terms = ContractTerms(**terms)
        self.coaches: list[str] = []
        self.outreach_districts: list[str] = []

    def serves(self, district: str) -> bool:
        return district in self.districts

    def check_serves(self, district: str) -> None:
        if not self.serves(district):
            raise ProviderDoesNotServeDistrictError(
                f"{self.name} does not serve {district}",
                provider_id=str(self.id),
                district=district,
            )

    def add_coach(self, coach: str) -> None:
        if coach not in self.coaches:
            self._coach_added(coach=coach)

    @event(CoachAdded)
    def _coach_added(self, *, coach: str) -> None:
        self.coaches.append(coach)

    def contract_outreach(self, district: str) -> bool:
        """Contract the provider to run the outreach in ``district`` (one it serves).
        ``False`` if it already does (nothing recorded)."""
        self.check_serves(district)
        if district in self.outreach_districts:
            return False
        self._outreach_contracted(district=district, provider_name=self.name)
        return True

    @event(OutreachContracted)
    def _outreach_contracted(self, *, district: str, provider_name: str) -> None:
        self.outreach_districts = sorted({*self.outreach_districts, district})

    def end_outreach_contract(self, district: str) -> bool:
        """End the provider's outreach in ``district``. ``False`` if it had none there."""
        if district not in self.outreach_districts:
            return False
        self._outreach_contract_ended(district=district)
        return True

    @event(OutreachContractEnded)
    def _outreach_contract_ended(self, *, district: str) -> None:
        self.outreach_districts = [d for d in self.outreach_districts if d != district]
