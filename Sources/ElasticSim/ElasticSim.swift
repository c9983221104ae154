// Module ElasticSim: being built; see ../shared/DESIGN.md.
