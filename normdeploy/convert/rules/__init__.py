"""One module per pattern family. Each rule module has PATTERN (its name in the report), ANCHORS
((domain, op_type) of the nodes it starts from, "" for the standard domain) and
apply(ctx, node) -> bool (True when it rewrote). normdeploy.convert.registry lists them in order."""
