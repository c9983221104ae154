// Module ElasticPolicy: being built; see ../shared/DESIGN.md.
