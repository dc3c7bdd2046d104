"""The papers each stage and each export follows; the dataset card cites every one in use."""

PAPERS = {
    "gsm8k": 'Cobbe et al., "Training Verifiers to Solve Math Word Problems", 2021. arXiv:2110.14168',
    "irpo": 'Pang et al., "Iterative Reasoning Preference Optimization", 2024. arXiv:2404.19733',
    "math-shepherd": 'Wang et al., "Math-Shepherd: Verify and Reinforce LLMs Step-by-step without Human Annotations", 2024. arXiv:2312.08935',
    "math-verify": 'Hugging Face, "Math-Verify: a robust mathematical expression evaluation system", 2025. https://github.com/huggingface/Math-Verify',
    "smollm2": 'Allal et al., "SmolLM2: When Smol Goes Big - Data-Centric Training of a Small Language Model", 2025. arXiv:2502.02737',
    "vllm": 'Kwon et al., "Efficient Memory Management for Large Language Model Serving with PagedAttention", 2023. arXiv:2309.06180',
    "lemma": 'Pan et al., "LEMMA: Learning from Errors for MatheMatical Advancement in LLMs", 2025. arXiv:2503.17439',
    "processbench": 'Zheng et al., "ProcessBench: Identifying Process Errors in Mathematical Reasoning", 2024. arXiv:2412.06559',
    "automathcritique": 'Xi et al., "Enhancing LLM Reasoning via Critique Models with Test-Time and Training-Time Supervision" (AutoMathCritique), 2024. arXiv:2411.16579',
    "deepcritic": 'Yang et al., "DeepCritic: Deliberate Critique with Large Language Models", 2025. arXiv:2505.00662',
    "cft": 'Wang et al., "Critique Fine-Tuning: Learning to Critique is More Effective than Learning to Imitate", 2025. arXiv:2501.17703',
}

STAGE_CITATIONS = {
    "seeds": ["gsm8k"],
    "generate": ["math-shepherd", "vllm"],
    "verify": ["gsm8k", "math-verify"],
    "inject": ["lemma", "processbench"],
    "inject_llm": ["lemma"],
    "mc_label": ["math-shepherd"],
    "critique": ["automathcritique"],
    "pair": ["irpo"],
}

TABLE_CITATIONS = {
    "processbench": ["processbench"],
    "math_shepherd": ["math-shepherd"],
    "critique_sft": ["cft"],
}
