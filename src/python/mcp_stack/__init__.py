"""The local stack: every service of the platform on 127.0.0.1, for development and demos.

Not deployed anywhere: on AKS each service is its own Deployment (see src/helm). Here each
runs as its own process, exactly as its PEX would, so nothing is shared but the network.
"""
