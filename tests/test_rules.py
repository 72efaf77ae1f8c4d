"""Rules (DESIGN 4): first match wins, unexplained is bug, bad files fail with file:line:column."""

import pytest

from divergence.classify.rules import load_rules
from divergence.errors import ConfigError
from divergence.model import Divergence

RULES = """\
rules:
  - id: rails-invoice-delay
    category: timing
    description: Rails handles invoice.payment_succeeded 60 s late; CB races checkout.
    match:
      event_type: "invoice.*"
      kind: value_mismatch
      field: subscription
      cb: null
      rails: {glob: "sub_*"}
      lag: {min: 30s, max: 2m}
  - id: partial-refund-status
    category: expected
    description: CB distinguishes partial refunds; Rails calls every refund refunded.
    match:
      event_type: charge.refunded
      field: status
      cb: partially_refunded
      rails: [refunded]
  - id: test-mode
    category: expected
    description: Rails ignores test-mode events.
    match:
      kind: missing_in_legacy
      payload: {"data.object.livemode": false}
  - id: catch-status
    category: bug
    description: Any other status difference is a bug we track.
    match:
      field: status
      rails: {regex: "^(active|trialing)$"}
"""


def rules_from(tmp_path, text, name="rules.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return load_rules([path])


def div(**over):
    base = dict(event_id="evt_1", event_type="invoice.payment_succeeded", kind="value_mismatch",
                field="subscription", cb_value=None, rails_value="sub_9", lag_s=61.0, age_s=3600.0)
    base.update(over)
    return Divergence(**base)


def classify_one(rules, d):
    (out,) = rules.classify([d])
    return out.category, out.rule_id


def test_first_match_wins_and_all_conditions_must_hold(tmp_path):
    rules = rules_from(tmp_path, RULES)
    assert classify_one(rules, div()) == ("timing", "rails-invoice-delay")
    assert classify_one(rules, div(lag_s=5.0)) == ("bug", None)  # too early for the 60 s delay
    assert classify_one(rules, div(lag_s=None)) == ("bug", None)  # no Rails time: a lag rule cannot hold
    assert classify_one(rules, div(cb_value="sub_1")) == ("bug", None)
    refund = div(event_type="charge.refunded", field="status", cb_value="partially_refunded", rails_value="refunded")
    assert classify_one(rules, refund) == ("expected", "partial-refund-status")
    other = div(event_type="customer.subscription.updated", field="status", cb_value="incomplete",
                rails_value="active")
    assert classify_one(rules, other) == ("bug", "catch-status")


def test_payload_matchers_read_the_raw_event(tmp_path):
    rules = rules_from(tmp_path, RULES)
    test_mode = div(kind="missing_in_legacy", field="", payload={"data": {"object": {"livemode": False}}})
    assert classify_one(rules, test_mode) == ("expected", "test-mode")
    live = div(kind="missing_in_legacy", field="", payload={"data": {"object": {"livemode": True}}})
    assert classify_one(rules, live) == ("bug", None)
    assert classify_one(rules, div(kind="missing_in_legacy", field="", payload=None)) == ("bug", None)


def test_classified_divergence_carries_the_description(tmp_path):
    (out,) = rules_from(tmp_path, RULES).classify([div()])
    assert out.rule_description.startswith("Rails handles invoice.payment_succeeded 60 s late")


@pytest.mark.parametrize("text, message", [
    ("rules:\n  - id: a\n    catgory: bug\n    description: x\n",
     "rules.yaml:3:5: unknown key 'catgory' (did you mean 'category'?)"),
    ("rules:\n  - id: a\n    category: bugg\n    description: x\n",
     "rules.yaml:3:15: rules.0.category: Input should be 'timing', 'bug' or 'expected'"),
    ("rules:\n  - id: a\n    category: bug\n",
     "rules.yaml:2:5: missing required key 'description' in rules.0"),
    ("rules:\n  - id: a\n    category: bug\n    description: x\n    match: {kind: value_mismach}\n",
     "rules.yaml:5:19: rules.0.match.kind: unknown kind 'value_mismach'"),
    ("rules:\n  - id: a\n    category: bug\n    description: x\n    match: {cb: {regex: '('}}\n",
     "rules.yaml:5:17: rules.0.match.cb: invalid regex '(': missing ), unterminated subpattern at position 0"),
    ("rules:\n  - id: a\n    category: bug\n    description: x\n    match: {kind: value_mismatch}\n"
     "  - id: a\n    category: bug\n    description: y\n    match: {kind: value_mismatch}\n",
     "rules.yaml:6:9: rule id 'a' is already used in"),
    ("rules:\n  - id: a\n    category: bug\n    description: x\n",
     "rules.yaml:2:5: missing required key 'match' in rules.0"),
    ("rules:\n  - id: a\n    category: expected\n    description: x\n    match: {field: null}\n",
     "rules.yaml:5:12: rules.0.match: field: null is not a condition; give a value or remove the key"),
    ("rules:\n  - id: a\n    category: bug\n    description: x\n    match: {}\n",
     "rules.yaml:2:5: rules.0: match has no condition: the rule would explain every divergence"),
    ("rules:\n  - id: a\n    category: bug\n    description: x\n    match: {lag: {min: 2m, max: 1m}}\n",
     "rules.yaml:5:18: rules.0.match.lag: min (120 s) is greater than max (60 s): it can never match"),
    ("rules:\n  - id: a\n    category: bug\n    description: x\n    match: {cb: NO}\n",
     "rules.yaml:5:17: 'NO' would be read as a boolean; write true/false, or quote it"),
    ("rules:\n  - id: a\n   category: bug\n", "rules.yaml:3:4: YAML syntax:"),
])
def test_bad_rule_files_name_file_line_column(tmp_path, text, message):
    with pytest.raises(ConfigError) as caught:
        rules_from(tmp_path, text)
    assert str(caught.value).startswith(str(tmp_path / message.split(":", 1)[0]) + ":" + message.split(":", 1)[1])
