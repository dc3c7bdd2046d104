"""The papers each stage follows; the dataset card cites every stage that ran."""

PAPERS = {
    "gsm8k": 'Cobbe et al., "Training Verifiers to Solve Math Word Problems", 2021. arXiv:2110.14168',
    "irpo": 'Pang et al., "Iterative Reasoning Preference Optimization", 2024. arXiv:2404.19733',
    "math-shepherd": 'Wang et al., "Math-Shepherd: Verify and Reinforce LLMs Step-by-step without Human Annotations", 2024. arXiv:2312.08935',
    "math-verify": 'Hugging Face, "Math-Verify: a robust mathematical expression evaluation system", 2025. https://github.com/huggingface/Math-Verify',
    "smollm2": 'Allal et al., "SmolLM2: When Smol Goes Big - Data-Centric Training of a Small Language Model", 2025. arXiv:2502.02737',
    "vllm": 'Kwon et al., "Efficient Memory Management for Large Language Model Serving with PagedAttention", 2023. arXiv:2309.06180',
}

STAGE_CITATIONS = {
    "seeds": ["gsm8k"],
    "generate": ["math-shepherd", "vllm"],
    "verify": ["gsm8k", "math-verify"],
    "pair": ["irpo"],
}
