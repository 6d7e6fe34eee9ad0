"""The OpenAI-compatible API's shapes, for the OpenAPI document. Requests are checked by
`compat.wire.parse`, which follows OpenAI's own rules (and names the parameter it refuses)."""

from __future__ import annotations

from rest_framework import serializers

from chat.serializers import SourceOutput
from orders.serializers import OrderOutput


class ModelOutput(serializers.Serializer):
    id = serializers.CharField(help_text="`tally-assistant`, or `<provider>/<model>`.")
    object = serializers.ChoiceField(choices=["model"])
    created = serializers.IntegerField()
    owned_by = serializers.CharField(help_text="`tally`, or the provider.")


class ModelListOutput(serializers.Serializer):
    object = serializers.ChoiceField(choices=["list"])
    data = ModelOutput(many=True)  # type: ignore[assignment]


class MessageInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "developer", "user", "assistant", "tool"])
    content = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="A string, or a list of `{type: text, text}` parts.",
    )
    tool_calls = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="An assistant's earlier calls."
    )
    tool_call_id = serializers.CharField(required=False, help_text="The call a tool turn answers.")


class StreamOptionsInput(serializers.Serializer):
    include_usage = serializers.BooleanField(required=False)


class ChatCompletionInput(serializers.Serializer):
    model = serializers.CharField(help_text="An id from `GET /v1/models`.")
    messages = MessageInput(
        many=True,
        help_text="The conversation; the last is the user's (or, for a plain model, a tool "
        "result) and at most `CHAT_MAX_CHARS` characters.",
    )
    stream = serializers.BooleanField(required=False, default=False)
    stream_options = StreamOptionsInput(required=False)
    temperature = serializers.FloatField(required=False, min_value=0, max_value=2)
    top_p = serializers.FloatField(required=False, min_value=0, max_value=1)
    max_tokens = serializers.IntegerField(
        required=False, min_value=1, help_text="Capped by `LLM_MAX_OUTPUT_TOKENS`."
    )
    max_completion_tokens = serializers.IntegerField(
        required=False, min_value=1, help_text="Capped by `LLM_MAX_OUTPUT_TOKENS`."
    )
    stop = serializers.JSONField(required=False, help_text="A string or up to 4 strings.")
    seed = serializers.IntegerField(required=False)
    presence_penalty = serializers.FloatField(required=False, min_value=-2, max_value=2)
    frequency_penalty = serializers.FloatField(required=False, min_value=-2, max_value=2)
    response_format = serializers.DictField(
        required=False, help_text="`text`, `json_object` or `json_schema` (vendor models)."
    )
    tools = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="Functions for a plain model; their calls come back to the client.",
    )
    tool_choice = serializers.JSONField(required=False)
    parallel_tool_calls = serializers.BooleanField(required=False)
    n = serializers.IntegerField(required=False, min_value=1, max_value=1)
    user = serializers.CharField(required=False, help_text="Accepted and not used.")


class FunctionCallOutput(serializers.Serializer):
    name = serializers.CharField()
    arguments = serializers.CharField(help_text="JSON.")


class ToolCallOutput(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.ChoiceField(choices=["function"])
    function = FunctionCallOutput()


class AssistantMessageOutput(serializers.Serializer):
    role = serializers.ChoiceField(choices=["assistant"])
    content = serializers.CharField(allow_null=True)
    refusal = serializers.CharField(allow_null=True)
    tool_calls = ToolCallOutput(many=True, required=False)


class ChoiceOutput(serializers.Serializer):
    index = serializers.IntegerField()
    message = AssistantMessageOutput()
    finish_reason = serializers.ChoiceField(
        choices=["stop", "length", "tool_calls", "content_filter"]
    )
    logprobs = serializers.JSONField(allow_null=True)


class CompletionUsageOutput(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class TallyOutput(serializers.Serializer):
    tokens_charged = serializers.IntegerField()
    tokens_remaining = serializers.IntegerField()
    conversation = serializers.IntegerField(help_text="Where Tally stored this exchange.")
    message_id = serializers.IntegerField()
    usage_counted = serializers.BooleanField(
        help_text="True when the model's server reported no usage and Tally counted it."
    )
    sources = SourceOutput(many=True)
    order = OrderOutput(allow_null=True)


class ChatCompletionOutput(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.ChoiceField(choices=["chat.completion"])
    created = serializers.IntegerField()
    model = serializers.CharField()
    choices = ChoiceOutput(many=True)
    usage = CompletionUsageOutput(help_text="The model's token counts (not the credits).")
    system_fingerprint = serializers.CharField(allow_null=True)
    tally = TallyOutput(help_text="What Tally adds: the charge, the balance, sources, order.")


class OpenAIErrorBody(serializers.Serializer):
    message = serializers.CharField()
    type = serializers.CharField()
    param = serializers.CharField(allow_null=True)
    code = serializers.CharField(allow_null=True)


class OpenAIErrorOutput(serializers.Serializer):
    error = OpenAIErrorBody()
