"""What BetMarket is sent: request bodies decoded strictly from their bytes, and money and odds
read exactly.

A JSON number with a fraction is decoded straight into a `Decimal` (never through a float); an
amount must be a whole number of minor units that fits the engine's bigint. Whether it is
positive, within a cap or a maximum is the engine's to say.
"""

import decimal
from collections.abc import Generator
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, ClassVar, cast

import msgspec
from litestar.dto import AbstractDTO, DTOConfig, DTOFieldDefinition
from litestar.openapi.spec import OpenAPIType, Reference, Schema
from litestar.typing import FieldDefinition

from wagerbase import accounts
from wagerbase.surfaces.betmarket.answers import Category, Choice
from wagerbase.surfaces.betmarket.errors import bad_request

POSITIONS: dict[str, int] = {"opt1": 1, "opt2": 2}
MAX_BIGINT = 2**63 - 1

# A JSON number kept exact: decoded as Decimal, documented as a number (Litestar would say string).
Number = Annotated[Decimal, msgspec.Meta(extra_json_schema={"extra": {"type": OpenAPIType.NUMBER}})]
OptionalNumber = Annotated[
    Decimal | None,
    msgspec.Meta(
        extra_json_schema={
            "extra": {"one_of": None, "type": [OpenAPIType.NUMBER, OpenAPIType.NULL]}
        }
    ),
]


# Money at the edge -------------------------------------------------------------------------------

# Wide enough that multiplying an accepted amount (at most 40 digits) by 100 is exact; any
# rounding, overflow or NaN raises instead.
_EXACT = decimal.Context(
    prec=60,
    traps=[decimal.Inexact, decimal.Rounded, decimal.Overflow, decimal.InvalidOperation],
)


def minor_units(amount: Decimal, name: str = "amount") -> int:
    """An amount in major units as whole minor units, exactly; 400 unless it has at most two
    decimals and fits the engine's bigint. Whether it is positive, within a cap or a maximum
    is the engine's to say."""
    if amount.is_finite() and amount.adjusted() > 18:
        raise bad_request(f"{name} is out of range")
    try:
        if len(amount.as_tuple().digits) > 40:
            raise ArithmeticError
        minor = _EXACT.multiply(amount, 100)
        if minor != minor.to_integral_value():
            raise ArithmeticError
        value = int(minor)
    except ArithmeticError:
        raise bad_request(f"{name} must be a number with at most 2 decimals") from None
    if abs(value) > MAX_BIGINT:
        raise bad_request(f"{name} is out of range")
    return value


def expected_odds(value: Decimal | None) -> Decimal | None:
    """The odd the user was shown, as sent; 400 when it is absurdly long, large or small."""
    if value is not None and (
        len(value.as_tuple().digits) > 40 or not -12 <= value.adjusted() <= 12
    ):
        raise bad_request("expected_odd is out of range")
    return value


# Bodies ------------------------------------------------------------------------------------------

_EXACT_JSON = msgspec.json.Decoder(float_hook=Decimal)


@cache
def _number_fields(model: type[msgspec.Struct]) -> list[str]:
    """The fields of `model` that hold a Decimal (`Number`, `OptionalNumber`)."""
    info = cast(msgspec.inspect.StructType, msgspec.inspect.type_info(model))
    names = []
    for field in info.fields:
        kinds = [field.type]
        while kinds:
            kind = kinds.pop()
            if isinstance(kind, msgspec.inspect.Metadata):
                kinds.append(kind.type)
            elif isinstance(kind, msgspec.inspect.UnionType):
                kinds.extend(kind.types)
            elif isinstance(kind, msgspec.inspect.DecimalType):
                names.append(field.encode_name)
                break
    return names


def decode_body(raw: bytes, model: type[msgspec.Struct]) -> Any:
    """A request body decoded strictly from its bytes: malformed JSON, a missing field, an unknown
    one (where the Struct forbids them), a wrong type (no string for a number, no number for a
    string) are a 400; JSON numbers with a fraction become exact Decimals."""
    try:
        value = _EXACT_JSON.decode(raw)
    except msgspec.ValidationError as exc:  # an integer beyond 64 bits
        raise bad_request(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise bad_request(f"Malformed JSON: {exc}") from None
    if isinstance(value, dict):
        for name in _number_fields(model):
            if isinstance(value.get(name), str):
                raise bad_request(f"Expected `number`, got `str` - at `$.{name}`")
    try:
        return msgspec.convert(value, model, strict=True)
    except msgspec.ValidationError as exc:
        raise bad_request(str(exc)) from None


class StrictBody(AbstractDTO[Any]):
    """Decodes every `data` body of this router with `decode_body` (Litestar's own decoding
    coerces strings to numbers and reads numbers as floats), and documents it as its Struct."""

    config: ClassVar[DTOConfig] = DTOConfig()
    _models: ClassVar[dict[str, type[msgspec.Struct]]] = {}

    @classmethod
    def generate_field_definitions(
        cls, model_type: type[Any]
    ) -> Generator[DTOFieldDefinition, None, None]:
        yield from ()

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False

    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: Any = None
    ) -> None:
        cls._models[handler_id] = field_definition.annotation

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: Any
    ) -> Reference | Schema:
        return cast(Reference | Schema, schema_creator.for_field_definition(field_definition))

    def decode_bytes(self, value: bytes) -> Any:
        return decode_body(value, self._models[self.asgi_connection.route_handler.handler_id])

    def decode_builtins(self, value: dict[str, Any]) -> Any:
        raise bad_request("Send the body as JSON")


class Credentials(msgspec.Struct):
    """Other fields (an `isAdmin`, say) are ignored: registration never grants admin."""

    username: str
    password: str


def _documented(**schema: Any) -> msgspec.Meta:
    """OpenAPI facts of a field that the engine (not the decoder) checks."""
    return msgspec.Meta(extra_json_schema={"extra": schema})


class Registration(msgspec.Struct):
    """Other fields (an `isAdmin`, say) are ignored: registration never grants admin."""

    username: Annotated[str, _documented(pattern="^[A-Za-z0-9_.-]{3,32}$")]
    password: Annotated[str, _documented(min_length=accounts.MIN_PASSWORD)]


class BetRequest(msgspec.Struct, forbid_unknown_fields=True):
    game_id: int
    amount: Number
    choice: Choice
    expected_odd: OptionalNumber = None


class DepositRequest(msgspec.Struct, forbid_unknown_fields=True):
    amount: Number


class NewGame(msgspec.Struct, forbid_unknown_fields=True):
    question_text: str
    opt1_text: str
    opt2_text: str
    category: Category


class GameRef(msgspec.Struct, forbid_unknown_fields=True):
    game_id: int


class GameResult(msgspec.Struct, forbid_unknown_fields=True):
    game_id: int
    result: Choice
