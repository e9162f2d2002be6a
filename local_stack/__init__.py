"""Run the gateway on one machine, from template.yaml: no Docker, no AWS account."""
