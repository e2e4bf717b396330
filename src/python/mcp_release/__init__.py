"""Supply-chain records of the service images: CycloneDX SBOMs, vulnerability scans judged
against the accepted-findings list. Used by the pipeline and the `./pants` launcher; never shipped.
"""
