"""Concept neurons (Rai & Yao 2024): the mechanics (`mechanics`: MLP layers, concept labels, recording and
ablation hooks) and `curate study neurons`' study built on them (`study`)."""

from curate.neurons.study import NeuronArguments, run_neuron_study

__all__ = ["NeuronArguments", "run_neuron_study"]
