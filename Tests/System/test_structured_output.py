"""JSON modes (`response_format` json_object and json_schema) through a real cluster, called
with the official `openai` client (its pydantic `parse` helper included); every output is
checked with the `jsonschema` package, which Tessera's grammar compiler has never seen."""
import json

import pytest

# The same fixtures as the OpenAI API tests: a module-scoped `tessera up` and an `openai` client.
from test_openai_api import assert_error_shape, client, cluster  # noqa: F401

openai = pytest.importorskip("openai")
jsonschema = pytest.importorskip("jsonschema")

MODEL = "smollm2-135m"

# Nested: objects in arrays in objects (through a $ref), an enum, a nullable field, an anyOf,
# string and array bounds. (Recursive schemas are covered by the Swift grammar tests: a
# 135M-parameter model given one nests mentors until max_tokens.)
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 40},
        "born": {"type": "integer"},
        "field": {"enum": ["mathematics", "physics", "chemistry", "literature"]},
        "email": {"type": ["string", "null"]},
        "works": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"$ref": "#/$defs/work"}},
        "mentor": {"anyOf": [{"type": "object", "properties": {"name": {"type": "string", "maxLength": 40}},
                              "required": ["name"], "additionalProperties": False},
                             {"type": "null"}]},
    },
    "required": ["name", "born", "field", "email", "works", "mentor"],
    "additionalProperties": False,
    "$defs": {"work": {"type": "object",
                       "properties": {"title": {"type": "string", "maxLength": 60}, "year": {"type": "integer"}},
                       "required": ["title", "year"], "additionalProperties": False}},
}
ASK = [{"role": "system", "content": "You answer with JSON only."},
       {"role": "user", "content": "Describe the scientist Marie Curie."}]


def schema_format(schema, name="person"):
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def test_json_schema_output_validates_greedy_and_sampled(client):
    for temperature, seed in [(0, None), (1.0, 1), (1.0, 2)]:
        response = client.chat.completions.create(
            model=MODEL, messages=ASK, max_tokens=400, temperature=temperature, seed=seed,
            response_format=schema_format(PERSON))
        choice = response.choices[0]
        assert choice.finish_reason == "stop", choice.message.content
        document = json.loads(choice.message.content)
        jsonschema.validate(document, PERSON)
        # Properties come in the schema's order.
        assert list(document) == list(PERSON["properties"])


def test_json_schema_streamed_matches_the_whole_response(client):
    kwargs = dict(model=MODEL, messages=ASK, max_tokens=400, temperature=0, response_format=schema_format(PERSON))
    whole = client.chat.completions.create(**kwargs).choices[0].message.content
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in
                       client.chat.completions.create(stream=True, **kwargs) if chunk.choices)
    assert streamed == whole
    jsonschema.validate(json.loads(streamed), PERSON)


def test_json_object_mode_gives_an_object(client):
    ask = "Give a person's name and age as a JSON object."
    for endpoint in ("chat", "completions"):
        if endpoint == "chat":
            choice = client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": ask}], max_tokens=300, temperature=0,
                response_format={"type": "json_object"}).choices[0]
            text = choice.message.content
        else:  # llama.cpp's server takes response_format on completions too
            choice = client.completions.create(
                model=MODEL, prompt=ask + "\n", max_tokens=300, temperature=0,
                extra_body={"response_format": {"type": "json_object"}}).choices[0]
            text = choice.text
        assert choice.finish_reason == "stop", text
        assert isinstance(json.loads(text), dict), text


def test_pydantic_parse_helper(client):
    """The client's own structured-output path: it sends the strict schema pydantic makes
    (with $defs, titles and additionalProperties false) and parses the answer back."""
    pydantic = pytest.importorskip("pydantic")

    class City(pydantic.BaseModel):
        name: str
        country: str
        population: int

    class Cities(pydantic.BaseModel):
        cities: list[City]

    completion = client.chat.completions.parse(
        model=MODEL, messages=[{"role": "user", "content": "Name two large cities."}],
        max_tokens=300, temperature=0, response_format=Cities)
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Cities) and all(isinstance(city, City) for city in parsed.cities)


def test_a_truncated_document_says_length(client):
    response = client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=8, temperature=0,
                                              response_format=schema_format(PERSON))
    assert response.choices[0].finish_reason == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.choices[0].message.content)


def test_schemas_it_cannot_enforce_are_refused_by_name(client):
    hi = [{"role": "user", "content": "hi"}]
    cases = [
        (schema_format({"type": "object", "properties": {"code": {"type": "string", "pattern": "^[A-Z]+$"}}}),
         "pattern"),
        (schema_format({"type": "integer", "minimum": 3}), "minimum"),
        (schema_format({"$ref": "#/$defs/missing"}), "points at nothing"),
        ({"type": "json_schema"}, "json_schema is required"),
        ({"type": "yaml"}, "yaml"),
    ]
    for response_format, words in cases:
        with pytest.raises(openai.BadRequestError) as error:
            client.chat.completions.create(model=MODEL, messages=hi, max_tokens=4, response_format=response_format)
        body = error.value.response.json()
        assert_error_shape(body, param="response_format")
        assert words in body["error"]["message"], body
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model=MODEL, messages=hi, max_tokens=4, response_format={"type": "json_object"},
                                       extra_body={"ignore_eos": True})
    assert_error_shape(error.value.response.json(), param="ignore_eos")
