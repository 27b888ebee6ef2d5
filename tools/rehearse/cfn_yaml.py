"""template.yaml as data: CloudFormation's short-form intrinsics (`!Ref`, `!Sub`, `!GetAtt`,
…) become their long forms (`{"Ref": …}`, `{"Fn::Sub": …}`), which is what a JSON template
sent to CreateStack must say."""

import yaml

_INTRINSICS = (
    "Ref", "Condition", "Sub", "GetAtt", "Join", "Select", "Split", "If", "Equals", "Not",
    "And", "Or", "FindInMap", "ImportValue", "Base64", "Cidr", "GetAZs", "ToJsonString",
    "Length", "Transform",
)


class _Loader(yaml.SafeLoader):
    pass


def _constructor(name):
    long_name = name if name in ("Ref", "Condition") else f"Fn::{name}"

    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if name == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {long_name: value}

    return construct


for _name in _INTRINSICS:
    _Loader.add_constructor(f"!{_name}", _constructor(_name))


def load(path):
    with open(path) as f:
        return yaml.load(f, Loader=_Loader)
