"""Moved to normdeploy.convert.checks (kept so older imports work)."""

from .convert.checks import (  # noqa: F401
    all_tensors, attribute_values, check_custom_nodes, check_external_data, check_model, check_strings,
    custom_node_problem, node_label, node_name, printable, quoted, sort_nodes, tensor_problem, value_info_problem,
)
