"""Model families that timm lacks, one module per family (timm style): each module's `@register_model`
functions (edgekit.models.plugins) run when the model registry is first used; keep a tiny `test_*` variant per
family so CI runs the real code cheaply."""
