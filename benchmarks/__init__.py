"""On-demand benchmarks: each measures healthtwin side by side with its named peer."""
