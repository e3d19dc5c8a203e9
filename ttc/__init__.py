"""ttc — test-time compute scaling experiments.

Draw N solutions per problem, select one (majority vote, outcome or process reward model, weighted
vote), and measure how accuracy grows with the compute spent at test time, against model size and
training compute.
"""

__version__ = "0.1.0"
